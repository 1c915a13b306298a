"""microshop deploy-secrets and the JWKS: values never in git or logs, a JWKS Istio can verify."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwt

from microshop_ci.cli import main as microshop
from microshop_ci.core.errors import UsageError
from microshop_ci.k8s import secrets
from microshop_ci.k8s.jwks import jwks_json, public_jwk


def _pem(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.mark.parametrize(
    ("key", "alg"),
    [(ec.generate_private_key(ec.SECP256R1()), "ES256"),
     (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")],
)  # fmt: skip
def test_a_token_signed_with_the_key_verifies_against_the_jwks(key: Any, alg: str) -> None:
    pem = _pem(key)
    jwk = json.loads(jwks_json(pem))["keys"][0]
    assert jwk["alg"] == alg
    assert "d" not in jwk  # the public half only
    token = jwt.encode({"sub": "u1", "aud": "microshop", "iss": "microshop-api"}, pem.decode(), alg)
    claims = jwt.decode(token, jwk, algorithms=[alg], audience="microshop", issuer="microshop-api")
    assert claims["sub"] == "u1"
    other = public_jwk(_pem(ec.generate_private_key(ec.SECP256R1())))
    assert other["kid"] != jwk["kid"]


def test_a_key_that_is_not_pem_is_refused() -> None:
    with pytest.raises(ValueError, match="not an unencrypted PEM private key"):
        public_jwk(b"-----BEGIN NONSENSE-----")


def _run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microshop_ci", "deploy-secrets",
         "--env-file", str(tmp_path / "s.env"),
         "--jwt-key", str(tmp_path / "jwt.pem"), "--jwks-out", str(tmp_path / "jwks.json"),
         "--out", str(tmp_path / "secrets.yaml"), *extra],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def _data(path: Path) -> dict[str, dict[str, str]]:
    return {
        d["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in d["data"].items()}
        for d in yaml.safe_load_all(path.read_text())
    }


def test_generated_secrets_are_private_kept_and_never_printed(tmp_path: Path) -> None:
    first = _run(tmp_path, "production")
    assert first.returncode == 0, first.stderr
    data = _data(tmp_path / "secrets.yaml")
    assert sorted(data) == [
        "api-service-jwt", "api-service-secrets", "client-service-secrets", "mongodb-credentials",
    ]  # fmt: skip
    password = data["mongodb-credentials"]["root-password"]
    assert len(password) >= 40
    for value in (password, data["client-service-secrets"]["session-secret"]):
        assert value not in first.stdout + first.stderr
    for name in ("s.env", "jwt.pem", "secrets.yaml"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    uri = data["api-service-secrets"]["mongodb-uri"]
    assert uri.endswith(
        "@mongodb-0.mongodb.microshop.svc.cluster.local:27017,"
        "mongodb-1.mongodb.microshop.svc.cluster.local:27017,"
        "mongodb-2.mongodb.microshop.svc.cluster.local:27017/?authSource=admin&replicaSet=rs0"
    )
    jwks = json.loads((tmp_path / "jwks.json").read_text())
    assert jwks == json.loads(jwks_json(data["api-service-jwt"]["jwt-private-key.pem"].encode()))
    again = _run(tmp_path)
    assert again.returncode == 0
    assert _data(tmp_path / "secrets.yaml")["mongodb-credentials"]["root-password"] == password
    assert _data(tmp_path / "secrets.yaml")["api-service-secrets"]["mongodb-uri"].endswith(
        "@mongodb-0.mongodb.microshop.svc.cluster.local:27017/?authSource=admin"
    )


@pytest.mark.parametrize(
    ("line", "error"),
    [("NOT A LINE", ":1: expected KEY=VALUE"),
     ("SESSION_SECRET=changeme", ":1: SESSION_SECRET is empty or a placeholder"),
     ("DB_PASSWORD=x", ":1: unknown key DB_PASSWORD")],
)  # fmt: skip
def test_a_bad_env_file_names_the_line_and_changes_nothing(
    tmp_path: Path, line: str, error: str
) -> None:
    (tmp_path / "s.env").write_text(line + "\n")
    result = _run(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: {tmp_path / 's.env'}{error}")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "secrets.yaml").exists()
    assert not (tmp_path / "jwt.pem").exists()
    assert (tmp_path / "s.env").read_text() == line + "\n"


def test_a_special_character_password_is_escaped_in_the_uri() -> None:
    values = {"MONGODB_ROOT_USERNAME": "root", "MONGODB_ROOT_PASSWORD": "p@ss/w:rd"}
    assert secrets.mongodb_uri(values, "kind", "microshop").startswith(
        "mongodb://root:p%40ss%2Fw%3Ard@"
    )


def test_parse_env_file_ignores_comments(tmp_path: Path) -> None:
    path = tmp_path / "s.env"
    path.write_text("# comment\n\nSESSION_SECRET='abc123def456'\n")
    assert secrets.parse_env_file(path) == {"SESSION_SECRET": "abc123def456"}
    path.write_text("=x\n")
    with pytest.raises(UsageError, match=":1: expected KEY=VALUE"):
        secrets.parse_env_file(path)


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kubectl stand-in first on PATH: keeps what it is asked to apply; fails when told to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kubectl"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" > {tmp_path}/kubectl.args\n'
        f"cat > {tmp_path}/applied.yaml\n"
        'if [ -n "$KUBECTL_FAIL" ]; then echo "connection refused" >&2; exit 1; fi\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.delenv("KUBECTL_FAIL", raising=False)
    return tmp_path / "applied.yaml"


def _argv(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "deploy-secrets", "--env-file", str(tmp_path / "s.env"),
        "--jwt-key", str(tmp_path / "jwt.pem"), "--jwks-out", str(tmp_path / "jwks.json"), *extra,
    ]  # fmt: skip


def test_without_out_the_secrets_are_applied_with_kubectl(
    tmp_path: Path, kubectl: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = microshop(_argv(tmp_path, "--namespace", "shop", "--database", "ferretdb"))
    assert code == 0
    assert (tmp_path / "kubectl.args").read_text() == "apply -f -\n"
    applied = {d["metadata"]["name"]: d for d in yaml.safe_load_all(kubectl.read_text())}
    assert {d["metadata"]["namespace"] for d in applied.values()} == {"shop"}
    uri = base64.b64decode(applied["api-service-secrets"]["data"]["mongodb-uri"]).decode()
    assert uri == "mongodb://mongodb-0.mongodb.shop.svc.cluster.local:27017/"
    assert capsys.readouterr().out == (
        "deploy-secrets: applied mongodb-credentials, api-service-secrets, api-service-jwt, "
        f"client-service-secrets in namespace shop; JWKS in {tmp_path / 'jwks.json'}\n"
    )


def test_a_failed_apply_is_one_line_and_exit_1(
    tmp_path: Path,
    kubectl: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KUBECTL_FAIL", "1")
    assert microshop(_argv(tmp_path)) == 1
    assert capsys.readouterr().err == "error: kubectl apply failed: connection refused\n"


def test_without_kubectl_the_out_option_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert microshop(_argv(tmp_path)) == 2
    assert capsys.readouterr().err == (
        "error: kubectl not found (use --out FILE to write the manifests)\n"
    )
