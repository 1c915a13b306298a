"""Timestamps at BSON precision (milliseconds), so a returned value equals the stored one."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current UTC time, truncated to whole milliseconds."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
