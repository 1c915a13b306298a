"""Progress lines on stderr, the way scripts/lib.sh's log() writes them."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path


def log(message: str) -> None:
    """`[HH:MM:SS] message` on stderr (UTC), flushed at once."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def log_tail(path: Path, lines: int) -> None:
    """The last lines of a tool's log file on stderr (nothing if it was never written)."""
    text = path.read_text(errors="replace") if path.is_file() else ""
    sys.stderr.write("".join(f"{line}\n" for line in text.splitlines()[-lines:]))
