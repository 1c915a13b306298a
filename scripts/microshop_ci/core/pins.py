"""The pinned versions in scripts/tool-versions.env, read once."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from microshop_ci.core.errors import ToolError
from microshop_ci.core.paths import REPO_ROOT, SCRIPTS_DIR

VERSIONS_FILE = SCRIPTS_DIR / "tool-versions.env"


class PinError(ToolError):
    """A version the pipeline needs is not pinned (so the tool cannot be run)."""


@cache
def pins(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """KEY -> value of every `KEY=value` line (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def pin(key: str) -> str:
    """One pinned value, or a PinError naming the key and the file."""
    try:
        return pins()[key]
    except KeyError:
        raise PinError(f"{key} is not set in {VERSIONS_FILE.relative_to(REPO_ROOT)}") from None
