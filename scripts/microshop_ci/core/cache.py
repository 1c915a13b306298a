"""The user cache outside the clone (MICROSHOP_CACHE) and the locks that guard its folders."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_root() -> Path:
    """MICROSHOP_CACHE (as scripts/lib.sh sets it), else $XDG_CACHE_HOME or ~/.cache, /microshop."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "microshop"
    return Path(os.environ.get("MICROSHOP_CACHE", default))


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on path (created if missing) for the duration of the block.

    flock(2), so it excludes `flock FILE` in shell scripts and other processes of this package.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
