# What mongodb's OpenBao agent renders: one file per secret field, on the pod's memory
# volume, where mongodb reads it (its *_FILE settings). Each file is replaced atomically
# (written aside, then renamed) when a new version is read. Paths are the pod's.

template {
  destination          = "/var/run/secrets/microshop/mongodb/root-username"
  perms                = "0400"
  error_on_missing_key = true
  contents             = "{{ with secret \"secret/data/microshop/mongodb/root\" }}{{ .Data.data.username }}{{ end }}"
}

template {
  destination          = "/var/run/secrets/microshop/mongodb/root-password"
  perms                = "0400"
  error_on_missing_key = true
  contents             = "{{ with secret \"secret/data/microshop/mongodb/root\" }}{{ .Data.data.password }}{{ end }}"
}
