# api-service logs in with its pod's ServiceAccount token (audience: OpenBao); the role binds that
# ServiceAccount to the policy api-service (policies/openbao/api-service.hcl).
auto_auth {
  method "kubernetes" {
    config = { role = "api-service", token_path = "/var/run/secrets/openbao/serviceaccount/token" }
  }
}
