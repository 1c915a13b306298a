# The rotation operator (microshop secrets seed|rotate): read the shop's secrets and write new
# versions (check-and-set), read their metadata. It cannot delete or destroy a version, read
# anything outside microshop/, or change policies, auth methods or audit devices.
path "secret/data/microshop/*" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/microshop/*" {
  capabilities = ["read"]
}
