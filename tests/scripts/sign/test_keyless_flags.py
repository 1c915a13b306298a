"""Keyless signing's command line against the real cosign, offline: past flag validation."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

FLAG_ERROR = "must provide --new-bundle-format or --bundle"
# Nothing listens on port 9 (discard) of the loopback: every network call is refused at once.
DEAD = "127.0.0.1:9"
REF = f"{DEAD}/microshop/api-service@sha256:{'a' * 64}"


# the variables a release run on a tag has (the provenance is made from them)
RUN = {
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "o/r",
    "GITHUB_REF": "refs/tags/v1.0.0",
    "GITHUB_SHA": "c" * 40,
    "GITHUB_WORKFLOW_REF": "o/r/.github/workflows/release.yml@refs/tags/v1.0.0",
    "GITHUB_EVENT_NAME": "push",
    "GITHUB_RUN_ID": "7",
    "GITHUB_RUN_ATTEMPT": "1",
}


def keyless(tmp_path: Path, step: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run scripts/supply-chain --mode keyless for one step; return the run and cosign's log."""
    images = tmp_path / "images.json"
    images.write_text(json.dumps({"api-service": {"ref": REF}}))
    out = tmp_path / "out"
    out.mkdir()
    if step == "attest":
        (out / "api-service").mkdir()
        (out / "api-service" / "sbom.cdx.json").write_text('{"bomFormat": "CycloneDX"}')
    env = {
        **os.environ,
        "COSIGN_CERTIFICATE_IDENTITY": "https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1.0.0",
        "COSIGN_CERTIFICATE_OIDC_ISSUER": "https://token.actions.githubusercontent.com",
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"http://{DEAD}/token",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "not-a-token",
        **RUN,
        # cosign's TUF cache and any proxy come from the environment: keep both local
        "TUF_ROOT": str(tmp_path / "tuf"),
        "HTTPS_PROXY": f"http://{DEAD}",
        "HTTP_PROXY": f"http://{DEAD}",
        "NO_PROXY": "",
    }
    env.pop("MICROSHOP_COSIGN_BUNDLE", None)
    result = subprocess.run(
        [
            str(REPO_ROOT / "scripts" / "supply-chain"),
            "--mode",
            "keyless",
            "--images",
            str(images),
            "--out-dir",
            str(out),
            "--step",
            step,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=env,
    )
    log = out / "api-service" / ("attest-cyclonedx.log" if step == "attest" else f"{step}.log")
    return result, log.read_text() if log.is_file() else ""


# where each step first needs the network: sign reads the image from the registry first,
# attest asks the GitHub OIDC token endpoint first
REFUSED = f"dial tcp {DEAD}: connect: connection refused"
NETWORK_ERRORS = {
    "sign": f'accessing image: Get "https://{DEAD}/v2/": {REFUSED}',
    "attest": f'fetching ambient OIDC credentials: Get "http://{DEAD}/token&audience=sigstore": '
    f"{REFUSED}",
}


@pytest.mark.parametrize("step", ["sign", "attest"])
def test_keyless_legacy_format_passes_cosign_flag_validation(tmp_path: Path, step: str) -> None:
    result, log = keyless(tmp_path, step)
    assert result.returncode == 1, result.stderr
    failed = "cosign attest --type cyclonedx failed" if step == "attest" else "cosign sign failed"
    assert f"api-service: {failed}" in result.stderr
    assert FLAG_ERROR not in log
    assert NETWORK_ERRORS[step] in log, log


def test_keyless_local_with_the_sigstore_down_names_the_parts_and_signs_nothing(
    tmp_path: Path,
) -> None:
    images = tmp_path / "images.json"
    images.write_text(json.dumps({"api-service": {"ref": REF}}))
    env = {
        **os.environ,
        "MICROSHOP_SIGSTORE_PORT": "1024",  # 1024-1033: privileged, nothing of ours listens
        "MICROSHOP_SIGSTORE_DATA": str(tmp_path / "sigstore"),
    }
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "supply-chain"), "--mode", "keyless-local",
         "--images", str(images), "--out-dir", str(tmp_path / "out")],
        capture_output=True, text=True, check=False, timeout=120, env=env,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (
        1,
        "error: the local Sigstore is not up (mariadb, trillian-log-server, trillian-log-signer, "
        "rekor, oidc, fulcio): run microshop sigstore up\n",
    )
    assert not (tmp_path / "out" / "api-service").exists()
