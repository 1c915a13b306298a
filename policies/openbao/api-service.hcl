# api-service: read its own secrets (KV v2 data, latest version) and nothing else. No list, no
# metadata, no write: its agent renders them into files; anything else is refused (403).
path "secret/data/microshop/api-service/*" {
  capabilities = ["read"]
}
