# What client-service's OpenBao agent renders: one file per secret field, on the pod's memory
# volume, where client-service reads it (its *_FILE settings). Each file is replaced atomically
# (written aside, then renamed) when a new version is read. Paths are the pod's.

template {
  destination          = "/var/run/secrets/microshop/session/session-secret"
  perms                = "0400"
  error_on_missing_key = true
  contents             = "{{ with secret \"secret/data/microshop/client-service/session\" }}{{ .Data.data.secret }}{{ end }}"
}
