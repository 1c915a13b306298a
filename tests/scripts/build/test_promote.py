"""Gated images are copied to the release registry by digest under git-<sha>, TLS verified."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from microshop_ci.cli import main as microshop
from tests.conftest import REPO_ROOT

DIGEST = "sha256:" + "a" * 64
GATED = f"127.0.0.1:5000/api-service@{DIGEST}"


def fake_crane(tmp_path: Path, digest: str = DIGEST) -> tuple[Path, Path]:
    """A crane stand-in that logs its arguments and answers `digest` with the given digest."""
    calls = tmp_path / "calls.txt"
    crane = tmp_path / "crane"
    crane.write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\nif [ "$1" = digest ]; then echo {digest}; fi\n'
    )
    crane.chmod(0o755)
    return crane, calls


def images_file(tmp_path: Path) -> Path:
    path = tmp_path / "gated.json"
    path.write_text(json.dumps({"api-service": {"ref": GATED, "size": 123}}))
    return path


def test_images_are_copied_by_digest_with_tls_verified_towards_the_release_registry(
    tmp_path: Path,
) -> None:
    crane, calls = fake_crane(tmp_path)
    out = tmp_path / "images.json"
    code = microshop(
        [
            "promote-images",
            "--images",
            str(images_file(tmp_path)),
            "--registry",
            "ghcr.io/Owner",
            "--tag",
            "git-0123456789ab",
            "--tag",
            "candidate",
            "--out",
            str(out),
            "--crane",
            str(crane),
        ]
    )
    assert code == 0
    # no --insecure: crane would turn TLS verification off towards GHCR too, token and all
    assert calls.read_text().splitlines() == [
        f"copy {GATED} ghcr.io/owner/api-service:git-0123456789ab",
        "tag ghcr.io/owner/api-service:git-0123456789ab candidate",
        "digest ghcr.io/owner/api-service:git-0123456789ab",
    ]
    assert json.loads(out.read_text()) == {
        "api-service": {
            "ref": f"ghcr.io/owner/api-service@{DIGEST}",
            "name": "ghcr.io/owner/api-service",
            "digest": DIGEST,
            "tags": ["git-0123456789ab", "candidate"],
            "gated_ref": GATED,
            "size": 123,
        }
    }


@pytest.fixture
def promote_git_1(tmp_path: Path) -> Callable[..., int]:
    """`microshop promote-images`: the gated file to ghcr.io/o as git-1 (out.json), a crane, more
    arguments."""

    def promote(crane: Path, *extra: str) -> int:
        return microshop(
            [
                "promote-images",
                "--images",
                str(images_file(tmp_path)),
                "--registry",
                "ghcr.io/o",
                "--tag",
                "git-1",
                *extra,
                "--out",
                str(tmp_path / "out.json"),
                "--crane",
                str(crane),
            ]
        )

    return promote


def test_a_copy_with_another_digest_is_refused(
    tmp_path: Path, promote_git_1: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    crane, _ = fake_crane(tmp_path, "sha256:" + "b" * 64)
    code = promote_git_1(crane)
    assert code == 1
    assert capsys.readouterr().err == (
        f"error: api-service: ghcr.io/o/api-service has digest sha256:{'b' * 64},"
        f" the gated one is {DIGEST}\n"
    )
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("tag", ["v1.2.3", "v10.0.0"])
def test_the_copy_never_writes_a_version_tag(
    tmp_path: Path,
    promote_git_1: Callable[..., int],
    tag: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The version tag comes after approval and verification (scripts/tag-release), not here."""
    crane, calls = fake_crane(tmp_path)
    code = promote_git_1(crane, "--tag", tag)
    assert code == 1
    assert capsys.readouterr().err == (
        f"error: {tag!r} is a version tag: scripts/tag-release adds it once the release"
        " is approved, signed and verified\n"
    )
    assert not calls.exists()
    assert not (tmp_path / "out.json").exists()


def test_the_copy_has_no_release_tag_option(
    tmp_path: Path, promote_git_1: Callable[..., int]
) -> None:
    crane, calls = fake_crane(tmp_path)
    assert promote_git_1(crane, "--release-tag", "v1.2.3") == 2
    assert not calls.exists()


def test_the_script_needs_the_release_registry(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MICROSHOP_REGISTRY"}
    result = subprocess.run(
        [
            str(REPO_ROOT / "scripts" / "promote-images"),
            "--images",
            str(images_file(tmp_path)),
            "--out",
            str(tmp_path / "o.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    assert result.stderr == "error: set MICROSHOP_REGISTRY (the release registry)\n"
