# What api-service's OpenBao agent renders: one file per secret field, on the pod's memory
# volume, where api-service reads it (its *_FILE settings). Each file is replaced atomically
# (written aside, then renamed) when a new version is read. Paths are the pod's.

template {
  destination          = "/var/run/secrets/microshop/jwt/jwt-private-key.pem"
  perms                = "0400"
  error_on_missing_key = true
  contents             = "{{ with secret \"secret/data/microshop/api-service/jwt\" }}{{ .Data.data.private_key }}{{ end }}"
}

template {
  destination          = "/var/run/secrets/microshop/jwt/previous-keys.json"
  perms                = "0400"
  error_on_missing_key = true
  contents             = "{{ with secret \"secret/data/microshop/api-service/jwt\" }}{{ .Data.data.previous_keys }}{{ end }}"
}

template {
  destination          = "/var/run/secrets/microshop/database/password"
  perms                = "0400"
  error_on_missing_key = true
  contents             = "{{ with secret \"secret/data/microshop/api-service/database\" }}{{ .Data.data.password }}{{ end }}"
}

template {
  destination          = "/var/run/secrets/microshop/admin/password"
  perms                = "0400"
  error_on_missing_key = true
  contents             = "{{ with secret \"secret/data/microshop/api-service/admin\" }}{{ .Data.data.password }}{{ end }}"
}
