"""The pinned uv: installed once into the user cache from hashed requirements, then reused.

The version and hash come from scripts/requirements-bootstrap.txt; uv goes into its own venv at
MICROSHOP_CACHE/tools/uv/VERSION (pip with --require-hashes, no dependencies). Standard library
only: scripts/lib.sh's uv_bin and scripts/setup run it with the system Python, before the locked
environment exists. `microshop uv` prints the path of the uv binary.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from microshop_ci.core.cache import cache_root, locked
from microshop_ci.core.errors import MicroshopError
from microshop_ci.core.log import log
from microshop_ci.core.paths import SCRIPTS_DIR

REQUIREMENTS = SCRIPTS_DIR / "requirements-bootstrap.txt"
PIN = re.compile(r"^uv==(\S+)", re.MULTILINE)
INSTALL_TIMEOUT = 600

Runner = Callable[[Sequence[str]], None]


class UvError(MicroshopError):
    """The pin is missing or the install failed."""


def pinned_version(requirements: Path = REQUIREMENTS) -> str:
    """The version of the `uv==VERSION` line of the bootstrap requirements."""
    found = PIN.search(requirements.read_text()) if requirements.is_file() else None
    if not found:
        raise UvError(f"{requirements} has no `uv==VERSION` line")
    return found.group(1)


def _run(argv: Sequence[str]) -> None:
    """Run an install step, its output on stderr (stdout carries only the path of uv)."""
    try:
        result = subprocess.run(  # nosec B603 -- fixed argv, no shell
            list(argv), stdout=sys.stderr, check=False, timeout=INSTALL_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise UvError(f"{Path(argv[0]).name} failed: {err}") from None
    if result.returncode != 0:
        raise UvError(f"{' '.join(argv[:3])} exited {result.returncode}")


def ensure_uv(
    cache: Path | None = None,
    requirements: Path = REQUIREMENTS,
    run: Runner = _run,
    python: str = sys.executable,
) -> Path:
    """The path of the pinned uv, installed first if the cache does not hold it yet."""
    version = pinned_version(requirements)
    venv = (cache or cache_root()) / "tools" / "uv" / version
    uv = venv / "bin" / "uv"
    if _executable(uv):
        return uv
    with locked(venv.parent / f".{version}.lock"):
        if not _executable(uv):  # another process may have installed it while we waited
            log(f"installing uv {version} into {venv}")
            run([python, "-m", "venv", str(venv)])
            run(
                [
                    str(venv / "bin" / "pip"), "install", "--quiet", "--require-hashes",
                    "--no-deps", "-r", str(requirements),
                ]
            )  # fmt: skip
            if not _executable(uv):
                raise UvError(f"pip installed no uv at {uv}")
    return uv


def _executable(path: Path) -> bool:
    return path.is_file() and path.stat().st_mode & 0o111 != 0


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop uv` takes no arguments."""
    del parser


def run_command(args: argparse.Namespace) -> int:
    """Print the path of the pinned uv (installing it if needed)."""
    del args
    print(ensure_uv())
    return 0
