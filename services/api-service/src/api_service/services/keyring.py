"""The signing key and the keys still trusted, re-read from their files when they change.

A secret store's agent rotates the key by replacing the files; the service follows without a
restart. The files are looked at (stat: inode, size, mtime) at most once per check interval, so a
request costs no file read. A key stays trusted and published after it stopped signing for the
token lifetime plus a grace (how late a replica may notice the rotation and keep signing with
it), and is then dropped. A file that changed into something unreadable or invalid is logged and
ignored: the last good keys stay in use, and start-up still refuses such a file.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api_service.config import ConfigurationError
from api_service.services.signingkeys import (
    SigningKey,
    VerifyKey,
    load_previous_keys,
    load_signing_key,
)

logger = logging.getLogger(__name__)

Stamp = tuple[int, int, int] | None


def _stamp(path: Path | None) -> Stamp:
    """What changes when a file is replaced or rewritten (None: no file, or unreadable)."""
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _now() -> datetime:
    return datetime.now(UTC)


class KeyRing:
    """The current signing key and the previous keys still within their retention."""

    def __init__(
        self,
        key_file: Path,
        previous_file: Path | None,
        retention: timedelta,
        *,
        check_seconds: float = 1.0,
        clock: Callable[[], datetime] = _now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key_file = key_file
        self.previous_file = previous_file
        self.retention = retention
        self.check_seconds = check_seconds
        self.clock = clock
        self._monotonic = monotonic
        self._stamps = (_stamp(key_file), _stamp(previous_file))
        self._signing = load_signing_key(key_file)
        self._previous = load_previous_keys(previous_file) if previous_file else ()
        self._seen_retired: dict[str, VerifyKey] = {}  # keys this process signed with before
        self._checked = monotonic()
        self._rejected: tuple[Stamp, Stamp] | None = None  # files already logged as invalid

    def signing(self) -> SigningKey:
        """The key new tokens are signed with."""
        self._refresh()
        return self._signing

    def trusted(self, kid: str) -> VerifyKey | None:
        """The key with that kid, if it signs now or retired less than the retention ago."""
        return next((key for key in self.published() if key.kid == kid), None)

    def published(self) -> list[VerifyKey]:
        """The current key first, then the previous keys still within their retention."""
        self._refresh()
        now = self.clock()
        current = self._signing.public
        # The file's retirement time wins over the moment this process noticed the rotation.
        retired = {**self._seen_retired, **{key.kid: key for key in self._previous}}
        retired.pop(current.kid, None)
        kept = [
            key
            for key in retired.values()
            if key.retired_at is not None and key.retired_at + self.retention > now
        ]
        return [current, *kept]

    def _refresh(self) -> None:
        """Re-read the files if they changed, at most once per check interval."""
        if self._monotonic() - self._checked < self.check_seconds:
            return
        self._checked = self._monotonic()
        stamps = (_stamp(self.key_file), _stamp(self.previous_file))
        if stamps in (self._stamps, self._rejected):
            return
        try:
            signing = load_signing_key(self.key_file)
            previous = load_previous_keys(self.previous_file) if self.previous_file else ()
        except ConfigurationError as exc:
            logger.error("keeping the current signing keys: %s", exc)  # noqa: TRY400 - one line
            self._rejected = stamps  # tried again once the files change again
            return
        self._stamps = stamps
        old = self._signing.public
        if signing.kid != old.kid:
            self._seen_retired[old.kid] = dataclasses.replace(old, retired_at=self.clock())
            self._seen_retired.pop(signing.kid, None)
            logger.info("signing key rotated: kid %s replaces %s", signing.kid, old.kid)
        self._signing = signing
        self._previous = previous
        cutoff = self.clock() - self.retention
        self._seen_retired = {
            kid: key
            for kid, key in self._seen_retired.items()
            if key.retired_at is not None and key.retired_at > cutoff
        }
