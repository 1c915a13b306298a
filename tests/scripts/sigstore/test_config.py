"""The local Sigstore's keys and the configs and command lines its servers start with."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from jose import jwt

from microshop_ci.sign.signer import private_sigstore
from microshop_ci.sigstore import servers, stack
from microshop_ci.sigstore.jobs import Job, private_sigstore_env
from microshop_ci.sigstore.keys import Keys, ensure_keys
from microshop_ci.sigstore.mariadb import MariaDB
from microshop_ci.sigstore.settings import Settings, SettingsError, settings
from microshop_ci.sigstore.variables import PRIVATE_SIGSTORE


@pytest.fixture
def s(tmp_path: Path) -> Settings:
    keys = Keys(tmp_path / "keys")
    ensure_keys(keys)
    return Settings(host="172.18.0.1", port=6000, data=tmp_path / "data", keys=keys)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_keys_are_made_once_private_and_the_ca_key_encrypted(tmp_path: Path) -> None:
    keys = Keys(tmp_path / "keys")
    assert ensure_keys(keys) == f"created Fulcio root CA and Rekor signing key in {keys.folder}"
    assert _mode(keys.folder) == 0o700
    private = (keys.fulcio_key, keys.fulcio_password, keys.rekor_key)
    assert [_mode(path) for path in private] == [0o600, 0o600, 0o600]
    cert = x509.load_pem_x509_certificate(keys.fulcio_root.read_bytes())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value == (
        x509.BasicConstraints(ca=True, path_length=0)
    )
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    with pytest.raises(TypeError, match="Password was not given but private key is encrypted"):
        serialization.load_pem_private_key(keys.fulcio_key.read_bytes(), None)
    password = keys.fulcio_password.read_text().strip().encode()
    ca_key = serialization.load_pem_private_key(keys.fulcio_key.read_bytes(), password)
    assert ca_key.public_key() == cert.public_key()

    before = [path.read_bytes() for path in (keys.fulcio_root, *private)]
    assert ensure_keys(keys) == ""
    assert [path.read_bytes() for path in (keys.fulcio_root, *private)] == before


def test_fulcio_serves_the_file_ca_without_ct_log_and_no_secret_on_its_command_line(
    s: Settings,
) -> None:
    server = servers.fulcio(s)
    config = s.data / "fulcio" / "serve.json"
    assert server.argv[1:] == ("serve", f"--config={config}")
    assert _mode(config) == 0o600
    serve = json.loads(config.read_text())
    password = s.keys.fulcio_password.read_text().strip()
    keys = ("ca", "fileca-key-passwd", "ct-log-url", "host", "port", "grpc-host")
    assert {k: serve[k] for k in keys} == {
        "ca": "fileca",
        "fileca-key-passwd": password,
        "ct-log-url": "",
        "host": "172.18.0.1",
        "port": "6000",
        "grpc-host": "127.0.0.1",
    }
    issuers = json.loads((s.data / "fulcio" / "issuers.json").read_text())
    assert list(issuers["OIDCIssuers"]) == ["http://172.18.0.1:6004"]
    assert password not in " ".join(server.argv)


def test_rekor_and_trillian_get_the_database_password_from_private_files_only(
    s: Settings,
) -> None:
    db = MariaDB(Path("/nonexistent/usr"), s.folder("mariadb"))
    db.password_file.write_text("pw-123\n")
    rekor = servers.rekor(s, db, "8866903605480284345")
    config = json.loads((s.data / "rekor" / "config.json").read_text())
    assert config["search_index"]["mysql"]["dsn"] == (
        f"sigstore:pw-123@unix({db.socket})/rekor?parseTime=true"
    )
    assert rekor.argv[-1] == "--trillian_log_server.tlog_id=8866903605480284345"
    flags = servers.trillian_flags(s, db)
    assert _mode(flags) == 0o600
    assert f"--mysql_uri=sigstore:pw-123@unix({db.socket})/trillian" in flags.read_text()
    signer = servers.trillian_log_signer(s, flags)
    assert signer.argv[1:] == (
        f"--config={flags}",
        "--rpc_endpoint=127.0.0.1:6007",
        "--http_endpoint=127.0.0.1:6008",
        "--force_master",
    )
    assert all("pw-123" not in " ".join(x.argv) for x in (rekor, signer))


def test_env_names_the_urls_and_the_trust_material(s: Settings) -> None:
    assert stack.env_lines(s) == [
        "FULCIO_URL=http://172.18.0.1:6000",
        "REKOR_URL=http://172.18.0.1:6003",
        "SIGSTORE_OIDC_ISSUER=http://172.18.0.1:6004",
        f"SIGSTORE_OIDC_DATA={s.data / 'oidc'}",
        f"SIGSTORE_ROOT_FILE={s.keys.fulcio_root}",
        f"SIGSTORE_REKOR_PUBLIC_KEY={s.keys.rekor_public}",
        f"SIGSTORE_TRUSTED_ROOT={s.data / 'trusted_root.json'}",
    ]


def test_settings_read_the_environment_they_are_given(tmp_path: Path) -> None:
    env = {"MICROSHOP_SIGSTORE_HOST": "127.0.0.9", "MICROSHOP_SIGSTORE_PORT": "6100",
           "MICROSHOP_SIGSTORE_DATA": str(tmp_path)}  # fmt: skip
    given = settings(env)
    assert (given.fulcio_url, given.rekor_url, given.data) == (
        "http://127.0.0.9:6100", "http://127.0.0.9:6103", tmp_path)  # fmt: skip
    with pytest.raises(SettingsError, match="MICROSHOP_SIGSTORE_PORT must be a port"):
        settings({"MICROSHOP_SIGSTORE_PORT": "80"})


def test_a_jobs_private_sigstore_variables_give_cosign_the_local_urls_and_root(
    s: Settings,
) -> None:
    s.data.mkdir(parents=True)
    s.trusted_root.write_text(json.dumps({"ctlogs": []}))
    env = private_sigstore_env(s)
    assert tuple(env) == PRIVATE_SIGSTORE
    signing, verifying = private_sigstore(env)
    assert signing == ("--fulcio-url", "http://172.18.0.1:6000", "--rekor-url",
                       "http://172.18.0.1:6003", "--trusted-root", str(s.trusted_root))  # fmt: skip
    assert verifying == (*signing[2:], "--insecure-ignore-sct")


def test_a_jobs_request_token_lasts_the_time_asked_for(s: Settings) -> None:
    (s.data / "oidc").mkdir(parents=True)
    (s.data / "oidc" / "url").write_text("http://172.18.0.1:6004")
    job = Job("microshop/microshop", "release.yml", "refs/tags/v1.2.3", "5" * 40)
    for ttl in (600, 3600):
        token = job.token_env(s, ttl=ttl)["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]
        claims = jwt.get_unverified_claims(token)
        assert claims["exp"] - time.time() == pytest.approx(ttl, abs=60)
        assert (claims["workflow"], claims["ref"]) == ("release.yml", "refs/tags/v1.2.3")
