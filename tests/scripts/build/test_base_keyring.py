"""The base image's packages are authenticated: a bad keyring stops microshop base-image."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Debian's own keyring of retired archive keys: real keys, none of which signs bookworm today.
REMOVED_KEYS = Path("/usr/share/keyrings/debian-archive-removed-keys.gpg")


def build_rootfs(tmp_path: Path, keyring: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "microshop_ci",
            "base-image",
            "--rootfs-only",
            str(tmp_path / "root"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        env={**os.environ, "MICROSHOP_DEBIAN_KEYRING": str(keyring)},
    )


def test_an_empty_keyring_stops_before_debootstrap(tmp_path: Path) -> None:
    empty = tmp_path / "empty.gpg"
    empty.write_bytes(b"")
    result = build_rootfs(tmp_path, empty)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: Debian archive keyring {empty} is missing or empty: install"
        " debian-archive-keyring (scripts/setup)"
    )
    assert not (tmp_path / "root").exists()


def test_a_keyring_without_the_archive_key_fails_the_release_check(tmp_path: Path) -> None:
    if not REMOVED_KEYS.is_file():
        pytest.fail(f"{REMOVED_KEYS} is missing: scripts/setup installs debian-archive-keyring")
    result = build_rootfs(tmp_path, REMOVED_KEYS)
    assert result.returncode == 1
    assert "E: Release signed by unknown key" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: debootstrap: the bookworm Release file does not verify against {REMOVED_KEYS}"
        " (refusing unauthenticated packages)"
    )
    # it stopped at the Release file: no package was unpacked
    assert not (tmp_path / "root" / "chroot" / "usr" / "bin").exists()
