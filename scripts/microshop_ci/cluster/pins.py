"""The pinned versions in scripts/tool-versions.env: microshop_ci.core.pins."""

from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.core.pins import VERSIONS_FILE, PinError, pin, pins

__all__ = ["REPO_ROOT", "VERSIONS_FILE", "PinError", "pin", "pins"]
