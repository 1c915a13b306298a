# The OpenBao agent of every service pod, with the service's own auth.hcl (its Kubernetes auth
# role) and templates.hcl (its files): `bao agent -config=agent.hcl -config=auth.hcl
# -config=templates.hcl`. Run once as an init container (-exit-after-auth: the files exist before
# the app starts) and as a sidecar that re-renders on rotation. No listener: the app never talks
# to OpenBao and holds no token.
pid_file = "/tmp/openbao-agent.pid"

vault {
  address = "https://openbao.openbao.svc:8200"
  ca_cert = "/var/run/secrets/openbao/ca.crt"
}

template_config {
  # KV v2 secrets have no lease: re-read every 30 s (the default is 5 min). The api-service's
  # JWT_ROTATION_GRACE_SECONDS (120) covers this interval plus its one-second file check.
  static_secret_render_interval = "30s"
  exit_on_retry_failure         = true
}
