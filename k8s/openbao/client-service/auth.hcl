# client-service logs in with its pod's ServiceAccount token (audience: OpenBao); the role binds that
# ServiceAccount to the policy client-service (policies/openbao/client-service.hcl).
auto_auth {
  method "kubernetes" {
    config = { role = "client-service", token_path = "/var/run/secrets/openbao/serviceaccount/token" }
  }
}
