# mongodb logs in with its pod's ServiceAccount token (audience: OpenBao); the role binds that
# ServiceAccount to the policy mongodb (policies/openbao/mongodb.hcl).
auto_auth {
  method "kubernetes" {
    config = { role = "mongodb", token_path = "/var/run/secrets/openbao/serviceaccount/token" }
  }
}
