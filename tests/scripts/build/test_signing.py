"""Signatures and SBOM attestations: what was signed verifies, nothing else does."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest

from microshop_ci.sign.sbom import components, pinned_dependencies, sbom_from_attestations
from tests.conftest import REPO_ROOT, tool_path
from tests.scripts.build.conftest import SCRIPTS, ChainRun, run

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DIGEST_REF = re.compile(r"^127\.0\.0\.1:\d+/[a-z-]+@sha256:[0-9a-f]{64}$")


def verify(images_file: Path, key_dir: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """Run the verify step of scripts/supply-chain for api-service."""
    return run(
        SCRIPTS / "supply-chain",
        "--mode",
        "key",
        "--step",
        "verify",
        "--service",
        "api-service",
        "--images",
        images_file,
        "--key-dir",
        key_dir,
        "--out-dir",
        out,
        check=False,
    )


def push_variant(registry: str, chain: ChainRun, tag: str, content: str = "a") -> str:
    """Push api-service with one more label (new content, new digest); return REPO@DIGEST."""
    base = str(chain.images["api-service"]["local_tag"])
    remote = f"{registry}/api-service:{tag}"
    subprocess.run(
        ["docker", "build", "-q", "-t", remote, "-"],
        input=f"FROM {base}\nLABEL test.variant={tag}-{content}\n",
        text=True,
        check=True,
        capture_output=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )
    run("docker", "push", remote)
    digest = run(tool_path("crane"), "digest", "--insecure", remote).stdout.strip()
    return f"{registry}/api-service@{digest}"


def images_file(tmp_path: Path, ref: str) -> Path:
    """An images file that maps api-service to ref."""
    path = tmp_path / "images.json"
    path.write_text(json.dumps({"api-service": {"ref": ref}}))
    return path


def test_whole_chain_pushes_by_digest_and_verifies(chain: ChainRun) -> None:
    assert sorted(chain.images) == ["api-service", "client-service"]
    for service, image in chain.images.items():
        ref = str(image["ref"])
        assert DIGEST_REF.match(ref), ref
        verified = json.loads((chain.out_dir / service / "verify.json").read_text())
        assert verified[0]["critical"]["image"]["docker-manifest-digest"] == image["digest"]
        assert f"{service}: verified the signature and every attestation of {ref}" in chain.stderr


def test_signed_image_verifies_with_its_public_key(chain: ChainRun, tmp_path: Path) -> None:
    result = verify(chain.images_file, chain.key_dir, tmp_path)
    assert result.returncode == 0, result.stderr


def test_unsigned_image_fails_verification(registry: str, chain: ChainRun, tmp_path: Path) -> None:
    ref = push_variant(registry, chain, f"unsigned-{secrets.token_hex(4)}")
    result = verify(images_file(tmp_path, ref), chain.key_dir, tmp_path / "out")
    assert result.returncode != 0
    assert f"signature verification FAILED for {ref}" in result.stderr
    assert "no signatures found" in result.stderr


def test_image_signed_with_another_key_fails(chain: ChainRun, tmp_path: Path) -> None:
    other = tmp_path / "other-key"
    other.mkdir()
    subprocess.run(
        [tool_path("cosign"), "generate-key-pair", "--output-key-prefix", "cosign"],
        cwd=other,
        check=True,
        capture_output=True,
        env={**os.environ, "COSIGN_PASSWORD": secrets.token_urlsafe(16)},
    )
    result = verify(chain.images_file, other, tmp_path / "out")
    assert result.returncode != 0
    assert "signature verification FAILED" in result.stderr
    assert "invalid signature" in result.stderr


def test_content_changed_after_signing_fails(
    registry: str, chain: ChainRun, tmp_path: Path
) -> None:
    tag = f"moving-{secrets.token_hex(4)}"
    signed = push_variant(registry, chain, tag)
    signed_file = images_file(tmp_path, signed)
    run(
        SCRIPTS / "supply-chain",
        "--mode",
        "key",
        "--step",
        "sbom",
        "--step",
        "sign",
        "--step",
        "attest",
        "--service",
        "api-service",
        "--images",
        signed_file,
        "--key-dir",
        chain.key_dir,
        "--out-dir",
        tmp_path / "sign",
    )
    assert verify(signed_file, chain.key_dir, tmp_path / "ok").returncode == 0
    # The same tag now points at other content: its digest has no signature.
    changed = push_variant(registry, chain, tag, content="b")
    assert changed != signed
    (tmp_path / "changed").mkdir()
    result = verify(images_file(tmp_path / "changed", changed), chain.key_dir, tmp_path / "bad")
    assert result.returncode != 0
    assert "no signatures found" in result.stderr


def test_sbom_attestation_names_the_locked_packages_with_versions(chain: ChainRun) -> None:
    attested = sbom_from_attestations(
        (chain.out_dir / "api-service" / "attestation.json").read_text()
    )
    python, debian = components(attested)
    pins = pinned_dependencies(REPO_ROOT / "services" / "api-service" / "pyproject.toml")
    for name in ("fastapi", "beanie", "python-jose"):
        assert python[name] == pins[name]
    assert python["api-service"] == "0.1.0"
    assert debian["python3.11-minimal"].startswith("3.11.")
    assert "bash" not in debian
    assert "dpkg" not in debian


def test_signing_key_stays_out_of_git_and_logs(chain: ChainRun) -> None:
    password = (chain.key_dir / "password").read_text()
    assert (chain.key_dir / "password").stat().st_mode & 0o077 == 0
    assert password not in chain.stderr
    for log in chain.out_dir.rglob("*.log"):
        assert password not in log.read_text()
    ignored = run("git", "-C", str(REPO_ROOT), "check-ignore", ".local/cosign/cosign.key")
    assert ignored.stdout.strip() == ".local/cosign/cosign.key"
