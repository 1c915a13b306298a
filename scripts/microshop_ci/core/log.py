"""Progress lines on stderr, the way scripts/lib.sh's log() writes them."""

from __future__ import annotations

import sys
from datetime import UTC, datetime


def log(message: str) -> None:
    """`[HH:MM:SS] message` on stderr (UTC), flushed at once."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)
