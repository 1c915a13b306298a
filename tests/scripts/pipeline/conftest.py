"""A throw-away repository whose stage scripts are small shell stand-ins we control."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

SCRIPTS = (
    "test",
    "gates",
    "build-base-image",
    "registry",
    "build-images",
    "supply-chain",
    "kyverno-test",
    "validate-manifests",
    "admission-check",
    "smoke",
    "scan-images",
)


class FakeRepo:
    """A repo folder with scripts/NAME stand-ins; each succeeds unless told otherwise."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "scripts").mkdir(parents=True)
        for name in SCRIPTS:
            self.script(name, "exit 0")
        # build-images writes images.json where the pipeline asks (--out FILE).
        self.script(
            "build-images",
            'out="$3"; mkdir -p "$(dirname "$out")"; '
            'echo \'{"api-service": {"ref": "127.0.0.1:5000/api-service@sha256:'
            + "a" * 64
            + '", "size": 72000000}}\' > "$out"',
        )

    def script(self, name: str, body: str) -> Path:
        """Replace scripts/NAME with a bash script running body."""
        path = self.root / "scripts" / name
        path.write_text(f"#!/usr/bin/env bash\nset -eu\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return path


@pytest.fixture
def fake_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeRepo:
    """A fake repo, with the registry probe pointed at a port nothing listens on."""
    monkeypatch.setenv("MICROSHOP_REGISTRY", "127.0.0.1:9")
    return FakeRepo(tmp_path / "repo")
