"""A throw-away repository whose stage steps are small shell stand-ins we control.

The pipeline runs each step as `python -m microshop_ci SUBCOMMAND` with the repository's
scripts/ first on PYTHONPATH, so the fake repository's own scripts/microshop_ci is a stand-in
program that runs the subcommand's bash body with its arguments ($1, $2, ... as before).
"""

from __future__ import annotations

from pathlib import Path

import pytest

# The name each test uses for a step -> the subcommand it stands in for.
COMMANDS = {
    "test": "test",
    "gates": "gates",
    "registry": "registry",
    "scan-images": "scan-images",
    "supply-chain": "sign",
    "kyverno-test": "kyverno-test",
    "validate-manifests": "validate-manifests",
    "admission-check": "admission-check",
    "smoke": "smoke",
    "build-base-image": "base-image",
    "build-images": "build-images",
}
STAND_IN = """import os
import sys
from pathlib import Path

body = Path(__file__).with_name("steps") / sys.argv[1]
os.execvp("bash", ["bash", str(body), *sys.argv[2:]])
"""


class FakeRepo:
    """A repo folder with step stand-ins; each succeeds unless told otherwise."""

    def __init__(self, root: Path) -> None:
        self.root = root
        package = root / "scripts" / "microshop_ci"
        (package / "steps").mkdir(parents=True)
        (package / "__init__.py").touch()
        (package / "__main__.py").write_text(STAND_IN)
        for name in COMMANDS:
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
        """Replace step NAME's subcommand with bash running body."""
        path = self.root / "scripts" / "microshop_ci" / "steps" / COMMANDS[name]
        path.write_text(f"set -eu\n{body}\n")
        return path


@pytest.fixture
def fake_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeRepo:
    """A fake repo, with the registry probe pointed at a port nothing listens on."""
    monkeypatch.setenv("MICROSHOP_REGISTRY", "127.0.0.1:9")
    return FakeRepo(tmp_path / "repo")
