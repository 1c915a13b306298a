"""The committed server configuration runs: raft storage, TLS, static seal, declared audit.

It is started as written (only the pod's paths and port are moved into a temporary folder),
initialised, given a secret, restarted, and must come back unsealed on its own with the secret.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from microshop_ci.secrets.bao import bao_binary
from microshop_ci.secrets.layout import AGENT_DIR
from tests.conftest import free_port, stop_process, wait_for_port
from tests.openbao import poll

SERVER_CONFIG = AGENT_DIR / "server" / "openbao.hcl"


def self_signed(root: Path) -> None:
    """A TLS certificate for 127.0.0.1 (its own CA) at the pod's tls.crt / tls.key paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "openbao")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (root / "tls").mkdir()
    (root / "tls" / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (root / "tls" / "tls.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def test_the_server_configuration_unseals_itself_after_a_restart(tmp_path: Path) -> None:
    self_signed(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "seal").mkdir()
    (tmp_path / "seal" / "key").write_bytes(secrets.token_bytes(32))
    port, cluster_port = free_port(), free_port()
    config = tmp_path / "openbao.hcl"
    config.write_text(
        SERVER_CONFIG.read_text()
        .replace("/openbao/", f"{tmp_path}/")
        .replace("0.0.0.0:8200", f"127.0.0.1:{port}")
        .replace("0.0.0.0:8201", f"127.0.0.1:{cluster_port}")
    )
    addr = f"https://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BAO_ADDR": addr,
        "BAO_CACERT": str(tmp_path / "tls" / "tls.crt"),
        "BAO_API_ADDR": addr,
        "BAO_CLUSTER_ADDR": f"https://127.0.0.1:{cluster_port}",
    }
    binary = str(bao_binary())

    def bao(*args: str, token: str = "") -> str:
        result = subprocess.run(
            [binary, *args],
            env={**env, "BAO_TOKEN": token},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start() -> subprocess.Popen[bytes]:
        with (tmp_path / "server.log").open("ab") as log:
            proc = subprocess.Popen(
                [binary, "server", f"-config={config}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        wait_for_port(port, proc, "OpenBao (server configuration)")
        return proc

    def unsealed() -> bool:
        status = subprocess.run(
            [binary, "status", "-format=json"], env=env, capture_output=True, text=True, check=False
        )
        return bool(status.stdout) and json.loads(status.stdout).get("sealed") is False

    proc = start()
    try:
        init = json.loads(
            bao("operator", "init", "-recovery-shares=1", "-recovery-threshold=1", "-format=json")
        )
        token = init["root_token"]
        poll(unsealed, "unsealed after init")
        poll(lambda: json.loads(bao("status", "-format=json")).get("is_self") is True, "leader")
        assert json.loads(bao("audit", "list", "-format=json", token=token))["file/"][
            "options"
        ] == {"file_path": "stdout"}
        bao("secrets", "enable", "-path=secret", "kv-v2", token=token)
        bao("kv", "put", "-mount=secret", "probe", "value=kept", token=token)
    finally:
        stop_process(proc)

    proc = start()
    try:
        poll(unsealed, "unsealed again after the restart, with no unseal key typed")
        value = bao("kv", "get", "-mount=secret", "-field=value", "probe", token=token)
        assert value.strip() == "kept"
    finally:
        stop_process(proc)
