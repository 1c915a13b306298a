# The OpenBao server of the cluster (one StatefulSet pod to start with; raft takes more members
# later). BAO_API_ADDR and BAO_CLUSTER_ADDR come from the pod's environment (its own DNS name).
# Paths are the pod's: /openbao/data a PersistentVolume, /openbao/tls and /openbao/seal Secrets
# mounted read-only, never in git or in the image.

ui            = false
disable_mlock = true # raft storage in a container: mlock would pin its memory-mapped files

storage "raft" {
  path    = "/openbao/data"
  node_id = "openbao-0"
}

listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_cert_file   = "/openbao/tls/tls.crt"
  tls_key_file    = "/openbao/tls/tls.key"
  tls_min_version = "tls13"
}

# Auto-unseal from a 32-byte key file (AES-256-GCM): the server unseals itself after a restart.
# Whoever can read this file can decrypt the storage, so it lives in its own Secret, outside the
# data volume and its backups. Production replaces this stanza with an HSM (pkcs11) or a cloud
# KMS seal (awskms, gcpckms, azurekeyvault); rotating the key: a new current_key(_id), the old
# one as previous_key(_id).
seal "static" {
  current_key_id = "1"
  current_key    = "file:///openbao/seal/key"
}

# Declared here: OpenBao 2 does not enable audit devices through its API, so no request is
# served unaudited. One JSON line per request and response on the container's stdout (the
# cluster's log collection keeps it); secret values and tokens appear only as HMACs.
audit "file" "file" {
  options {
    file_path = "stdout"
  }
}
