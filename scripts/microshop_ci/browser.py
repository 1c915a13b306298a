"""Headless Chromium, the storefront's real browser: where it is, how it starts, how to get it.

Debian has the `chromium` and `chromium-driver` packages (scripts/setup installs them). Ubuntu
24.04 has none (its `chromium` is a snap wrapper), but GitHub's runner image ships a browser at
/usr/bin/chromium or /usr/bin/google-chrome: there it is used as it is. MICROSHOP_CHROMIUM names
another binary. Only the standard library here: scripts/setup runs it before the venv exists.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.core.errors import MicroshopError

DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
DEBIAN_PACKAGES = ("chromium", "chromium-driver")
# Browsers a runner image may already ship, in order of preference.
CANDIDATES = (
    DEBIAN_CHROMIUM,
    Path("/usr/bin/google-chrome"),
    Path("/usr/bin/google-chrome-stable"),
)
OS_RELEASE = Path("/etc/os-release")

# Headless as root, with nothing that reaches for the network on its own: on these machines
# Chromium's background connections are refused, many at a time, and slow every start.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@dataclass(frozen=True)
class BrowserPlan:
    """What scripts/setup does for the browser: Debian packages to install, the binary to use,
    or why there is none."""

    packages: tuple[str, ...] = ()
    binary: Path | None = None
    error: str | None = None


def read_os_release(path: Path = OS_RELEASE) -> dict[str, str]:
    """KEY=value pairs of /etc/os-release (quotes removed); empty when the file is missing."""
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value.strip().strip('"') for key, value in pairs}


def plan(
    os_release: Mapping[str, str],
    exists: Callable[[Path], bool],
    override: str | None = None,
) -> BrowserPlan:
    """Decide how this machine gets a headless Chromium (pure: the caller says what exists)."""
    if override:
        if exists(Path(override)):
            return BrowserPlan(binary=Path(override))
        return BrowserPlan(error=f"MICROSHOP_CHROMIUM={override} does not exist")
    if os_release.get("ID") == "debian":
        return BrowserPlan(packages=DEBIAN_PACKAGES, binary=DEBIAN_CHROMIUM)
    for candidate in CANDIDATES:
        if exists(candidate):
            return BrowserPlan(binary=candidate)
    name = os_release.get("PRETTY_NAME", "this system")
    return BrowserPlan(
        error=(
            f"no headless Chromium on {name}: Debian's chromium packages exist only on Debian"
            f" (Ubuntu's chromium is a snap); install Chromium or Google Chrome at one of"
            f" {', '.join(map(str, CANDIDATES))}, or set MICROSHOP_CHROMIUM"
        )
    )


def chromium() -> Path:
    """The browser binary to start: MICROSHOP_CHROMIUM, else the first candidate that exists."""
    override = os.environ.get("MICROSHOP_CHROMIUM")
    if override:
        return Path(override)
    return next((c for c in CANDIDATES if c.exists()), DEBIAN_CHROMIUM)


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop browser` takes no options."""
    del parser


def run_command(args: argparse.Namespace) -> int:
    """Print the Debian packages to install (maybe none) and the binary; raise with a reason."""
    del args
    decided = plan(read_os_release(), Path.exists, os.environ.get("MICROSHOP_CHROMIUM"))
    if decided.error:
        raise MicroshopError(f"browser: {decided.error}")
    print(" ".join(decided.packages))
    print(decided.binary)
    return 0
