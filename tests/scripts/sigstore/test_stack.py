"""The local Sigstore (`microshop sigstore`): settings, refusals, a real keyless sign and verify."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from jose import jwt

from microshop_ci.cli import main as microshop
from microshop_ci.sigstore import oidc, stack
from microshop_ci.sigstore.servers import Server
from microshop_ci.sigstore.settings import SettingsError, settings
from tests.conftest import tool_path
from tests.local_sigstore import STACK, running_stack

SHA = "0123456789abcdef0123456789abcdef01234567"
REPO = "octo-org/shop"
IDENTITY = f"https://github.com/{REPO}/.github/workflows/release.yml@refs/tags/v0.0.0-test"
# an address other than 127.0.0.1, like the kind network gateway: Fulcio's HTTP API must still
# reach its own gRPC server, which listens on 127.0.0.1
HOST = "127.0.0.2"


def test_settings_default_to_loopback_5550_and_local(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOST", "PORT", "DATA"):
        monkeypatch.setenv(f"MICROSHOP_SIGSTORE_{name}", "")
    s = settings()
    assert (s.fulcio_url, s.rekor_url, s.issuer_url) == (
        "http://127.0.0.1:5550",
        "http://127.0.0.1:5553",
        "http://127.0.0.1:5554",
    )
    assert (s.trillian_rpc, s.signer_http) == ("127.0.0.1:5555", "127.0.0.1:5558")
    assert s.data == Path(__file__).resolve().parents[3] / ".local" / "sigstore"


def test_another_host_moves_the_public_servers_but_not_trillian(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MICROSHOP_SIGSTORE_HOST", "172.18.0.1")
    monkeypatch.setenv("MICROSHOP_SIGSTORE_PORT", "6000")
    s = settings()
    assert (s.fulcio_url, s.rekor_url, s.trillian_rpc) == (
        "http://172.18.0.1:6000",
        "http://172.18.0.1:6003",
        "127.0.0.1:6005",
    )


@pytest.mark.parametrize("port", ["80", "5550x", "65530"])
def test_a_bad_port_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, port: str
) -> None:
    monkeypatch.setenv("MICROSHOP_SIGSTORE_PORT", port)
    with pytest.raises(SettingsError) as caught:
        settings()
    assert str(caught.value) == (
        f"MICROSHOP_SIGSTORE_PORT must be a port from 1024 to 65526, not {port!r}"
    )


def test_a_wrong_command_prints_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert microshop(["sigstore", "start"]) == 2
    assert capsys.readouterr().err == (
        "error: microshop sigstore: argument action: invalid choice: 'start' (choose from "
        "'up', 'down', 'status', 'env', 'release-job') (see microshop sigstore --help)\n"
    )


def test_down_without_a_started_stack_stops_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MICROSHOP_SIGSTORE_DATA", str(tmp_path))
    assert stack.down(settings()) == ["nothing started by microshop sigstore is running"]


def test_a_server_that_exits_is_named_with_its_log_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MICROSHOP_SIGSTORE_DATA", str(tmp_path))
    argv = (sys.executable, "-c", "import sys; print('no config'); sys.exit(3)")
    with pytest.raises(stack.StackError) as caught:
        stack.start(settings(), Server("fulcio", argv, lambda: False))
    log = tmp_path / "logs" / "fulcio.log"
    assert str(caught.value) == f"fulcio exited 3 (log: {log})"
    assert log.read_text() == "no config\n"
    assert stack.recorded(settings(), "fulcio") is None


def _run(
    argv: list[str], env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A stack on 127.0.0.2, a free port block and a private data folder; yields its `env`."""
    with running_stack(tmp_path_factory.mktemp("sigstore"), HOST) as env:
        yield env


def _job(env: dict[str, str], ttl: int = 600) -> dict[str, str]:
    """A release job's ACTIONS_ID_TOKEN_* variables from the stand-in issuer."""
    argv = [sys.executable, "-m", "microshop_ci", "oidc", "job"]
    argv += ["--data", env["SIGSTORE_OIDC_DATA"], "--repository", REPO]
    argv += ["--workflow", "release.yml", "--ref", "refs/tags/v0.0.0-test"]
    argv += ["--event", "push", "--sha", SHA, "--ttl", str(ttl)]
    result = _run(argv, env)
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


def _sign(env: dict[str, str], blob: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """cosign's legacy keyless signing (the Fulcio and Rekor URLs given, no signing config)."""
    argv = [tool_path("cosign"), "sign-blob", "--yes", str(blob)]
    argv += ["--fulcio-url", env["FULCIO_URL"], "--rekor-url", env["REKOR_URL"]]
    argv += ["--use-signing-config=false", *extra]
    return _run(argv, env, timeout=300)


def _verify(
    env: dict[str, str], blob: Path, bundle: Path, identity: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    argv = [tool_path("cosign"), "verify-blob", str(blob), "--bundle", str(bundle)]
    argv += ["--certificate-identity-regexp", identity]
    argv += ["--certificate-oidc-issuer", env["SIGSTORE_OIDC_ISSUER"], *extra]
    return _run(argv, env, timeout=300)


slow = pytest.mark.slow
ARTIFACT = "microshop release artifact\n"


@slow
def test_a_blob_signed_keyless_verifies_against_the_local_roots_and_is_in_rekor(
    running: dict[str, str], tmp_path: Path
) -> None:
    blob, bundle = tmp_path / "artifact.txt", tmp_path / "artifact.bundle"
    blob.write_text(ARTIFACT)
    signed = _sign(
        {**running, **_job(running)}, blob, "--new-bundle-format=false", "--bundle", str(bundle)
    )
    assert signed.returncode == 0, signed.stderr
    # the legacy bundle is verified with the roots cosign reads from SIGSTORE_ROOT_FILE and
    # SIGSTORE_REKOR_PUBLIC_KEY (as Kyverno's `roots` and `rekor.pubkey`); no CT log: no SCT
    accepted = _verify(
        running, blob, bundle, f"^https://github.com/{REPO}/", "--insecure-ignore-sct"
    )
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stderr.strip().splitlines()[-1] == "Verified OK"
    other = _verify(
        running, blob, bundle, "^https://github.com/octo-org/other/", "--insecure-ignore-sct"
    )
    assert other.returncode == 1
    assert "none of the expected identities matched" in other.stderr

    digest = hashlib.sha256(blob.read_bytes()).hexdigest()
    found = _entries(running, digest)
    assert len(found) == 1
    entry = httpx.get(f"{running['REKOR_URL']}/api/v1/log/entries/{found[0]}").json()
    (body,) = [json.loads(base64.b64decode(e["body"])) for e in entry.values()]
    assert body["kind"] == "hashedrekord"
    assert body["spec"]["data"]["hash"] == {"algorithm": "sha256", "value": digest}
    legacy = json.loads(bundle.read_text())
    assert legacy["rekorBundle"]["Payload"]["logIndex"] == next(iter(entry.values()))["logIndex"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(legacy["cert"]))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [IDENTITY]
    root = x509.load_pem_x509_certificate(Path(running["SIGSTORE_ROOT_FILE"]).read_bytes())
    assert cert.issuer == root.subject


@slow
def test_a_sigstore_bundle_verifies_with_the_trusted_root_that_up_wrote(
    running: dict[str, str], tmp_path: Path
) -> None:
    blob, bundle = tmp_path / "artifact.txt", tmp_path / "artifact.sigstore.json"
    blob.write_text("microshop release artifact, bundle format\n")
    trusted = ["--trusted-root", running["SIGSTORE_TRUSTED_ROOT"]]
    job = {**running, **_job(running)}
    signed = _sign(job, blob, "--new-bundle-format=true", *trusted, "--bundle", str(bundle))
    assert signed.returncode == 0, signed.stderr
    identity = f"^https://github.com/{REPO}/"
    accepted = _verify(running, blob, bundle, identity, *trusted, "--insecure-ignore-sct")
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stderr.strip().splitlines()[-1] == "Verified OK"
    no_sct = _verify(running, blob, bundle, identity, *trusted)
    assert no_sct.returncode == 1
    assert "only able to verify 0 SCT entries; unable to meet threshold of 1" in no_sct.stderr


def _entries(env: dict[str, str], digest: str) -> list[str]:
    """Rekor's entry UUIDs for an artifact digest (its search index)."""
    url = f"{env['REKOR_URL']}/api/v1/index/retrieve"
    found = httpx.post(url, json={"hash": f"sha256:{digest}"})
    assert found.status_code == 200, found.text
    return list(found.json())


def _id_token(env: dict[str, str], issued: int) -> str:
    """The stand-in issuer's ID token for a release job, as issued at that time."""
    key = (Path(env["SIGSTORE_OIDC_DATA"]) / "signing-key.pem").read_bytes()
    job = {"repository": REPO, "ref": "refs/tags/v0.0.0-test", "event": "push"}
    job |= {"workflow": "release.yml", "sha": SHA, "run_id": "1"}
    claims = oidc.github_claims(job, env["SIGSTORE_OIDC_ISSUER"], "sigstore", issued)
    headers = {"kid": oidc.public_jwk(key)["kid"]}
    return str(jwt.encode(claims, key.decode(), "RS256", headers=headers))


@slow
def test_only_a_current_token_signs_an_expired_one_an_unknown_job_or_rekor_down_fail(
    running: dict[str, str], tmp_path: Path
) -> None:
    blob = tmp_path / "artifact.txt"
    blob.write_text("signed once, with the current token\n")
    legacy = ["--new-bundle-format=false", "--bundle", str(tmp_path / "artifact.bundle")]
    fresh = _sign(running, blob, *legacy, "--identity-token", _id_token(running, int(time.time())))
    assert fresh.returncode == 0, fresh.stderr
    an_hour_ago = int(time.time()) - 3600
    expired = _sign(running, blob, *legacy, "--identity-token", _id_token(running, an_hour_ago))
    assert expired.returncode == 1
    assert (
        'Fulcio returned 400: {"code":3, "message":"There was an error processing the identity'
        in expired.stderr
    )
    fulcio_log = Path(running["MICROSHOP_SIGSTORE_DATA"]) / "logs" / "fulcio.log"
    assert "oidc: token is expired" in fulcio_log.read_text()
    bad_job = {**running, **_job(running), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "not-a-job"}
    unknown = _sign(bad_job, blob, *legacy)
    assert unknown.returncode == 1  # cosign then tries its interactive flow, unreachable here
    assert "getting keypair and token: retrieving ID token" in unknown.stderr
    port = int(running["MICROSHOP_SIGSTORE_PORT"]) + 9  # nothing listens there
    no_rekor = {**running, **_job(running), "REKOR_URL": f"http://127.0.0.1:{port}"}
    rekor_down = _sign(no_rekor, blob, *legacy)
    assert rekor_down.returncode == 1
    assert "connection refused" in rekor_down.stderr
    assert len(_entries(running, hashlib.sha256(blob.read_bytes()).hexdigest())) == 1


@slow
def test_up_again_leaves_everything_running_and_status_says_so(running: dict[str, str]) -> None:
    again = _run([*STACK, "up"], running)
    assert again.returncode == 0, again.stderr
    assert [line.split("] ", 1)[1] for line in again.stderr.splitlines()][:6] == [
        f"{name} already running" for name in stack.ORDER
    ]
    status = _run([*STACK, "status"], running)
    assert (status.returncode, status.stdout) == (0, "".join(f"{n} up\n" for n in stack.ORDER))


@slow
def test_down_stops_what_up_started_and_the_log_survives_a_restart(
    running: dict[str, str],
) -> None:
    stopped = _run([*STACK, "down"], running)
    assert stopped.returncode == 0, stopped.stderr
    said = [line.split("] ", 1)[1].split(" (pid ")[0] for line in stopped.stderr.splitlines()]
    assert said == [f"{name} stopped" for name in reversed(stack.ORDER)]
    status = _run([*STACK, "status"], running)
    assert (status.returncode, status.stdout) == (1, "".join(f"{n} down\n" for n in stack.ORDER))

    restarted = _run([*STACK, "up"], running)
    assert restarted.returncode == 0, restarted.stderr
    digest = hashlib.sha256(ARTIFACT.encode()).hexdigest()
    assert len(_entries(running, digest)) == 1


def test_release_job_refuses_a_tag_that_is_not_a_version(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MICROSHOP_RELEASE_TAG", "v1-rc")
    assert microshop(["sigstore", "release-job"]) == 1
    assert capsys.readouterr().err == "error: MICROSHOP_RELEASE_TAG must be vX.Y.Z, not 'v1-rc'\n"
