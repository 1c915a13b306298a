"""A throw-away repository whose stage steps are small shell stand-ins we control.

The pipeline runs each step as `python -m microshop_ci.<module>` with the repository's
scripts/ first on PYTHONPATH, so a stand-in is a module file in the fake repository's own
scripts/microshop_ci that hands its arguments to a bash body ($1, $2, ... as before).
"""

from __future__ import annotations

from pathlib import Path

import pytest

# The name each test uses for a step -> the module file that stands in for it.
MODULES = {
    "test": "checks/__main__.py",
    "gates": "gates/cli.py",
    "registry": "core/registry.py",
    "scan-images": "gates/scan_images.py",
    "supply-chain": "sign/__main__.py",
    "kyverno-test": "admission/suites.py",
    "validate-manifests": "admission/validate.py",
    "admission-check": "admission/check.py",
    "smoke": "smoke/__main__.py",
    "build-base-image": "build/base_image.py",
    "build-images": "build/images.py",
}
STAND_IN = """import os
import sys

os.execvp("bash", ["bash", "-c", {body!r}, "stand-in", *sys.argv[1:]])
"""


class FakeRepo:
    """A repo folder with step stand-ins; each succeeds unless told otherwise."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "scripts").mkdir(parents=True)
        for name in MODULES:
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
        """Replace step NAME's module with bash running body."""
        path = self.root / "scripts" / "microshop_ci" / MODULES[name]
        for package in (path.parent, path.parent.parent):
            package.mkdir(parents=True, exist_ok=True)
            (package / "__init__.py").touch()
        path.write_text(STAND_IN.format(body=f"set -eu\n{body}\n"))
        return path


@pytest.fixture
def fake_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeRepo:
    """A fake repo, with the registry probe pointed at a port nothing listens on."""
    monkeypatch.setenv("MICROSHOP_REGISTRY", "127.0.0.1:9")
    return FakeRepo(tmp_path / "repo")
