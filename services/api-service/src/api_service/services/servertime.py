"""The database server's clock, so every process and replica compares times on one clock.

Lease expiries and order deadlines are written in database time and compared with it: one
pod's clock running ahead cannot make another pod's lease look expired. The offset between this
process's clock and the server's (`hello`'s `localTime`, answered by MongoDB and FerretDB) is
measured once and again every REFRESH_SECONDS; its error is at most half the round trip.
Hand-written: no library offers a database-clock offset for PyMongo.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from pymongo.errors import PyMongoError

from api_service.clock import utc_now
from api_service.models import StockLock

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 60.0


class ServerClock:
    """utc_now() corrected by the measured offset to the database server's clock."""

    def __init__(self) -> None:
        self._offset: timedelta | None = None
        self._measured_at = 0.0
        self._lock = asyncio.Lock()

    def forget(self) -> None:
        """Measure again on next use (at start-up: a new client, maybe a new event loop)."""
        self._offset = None
        self._lock = asyncio.Lock()

    async def _measure(self) -> timedelta:
        database = StockLock.get_pymongo_collection().database
        sent_at = utc_now()
        reply = await database.command("hello")
        received_at = utc_now()
        server: datetime = reply["localTime"]
        if server.tzinfo is None:
            server = server.replace(tzinfo=UTC)
        return server - (sent_at + (received_at - sent_at) / 2)

    async def offset(self) -> timedelta:
        """The offset, measured when unknown or older than REFRESH_SECONDS.

        A failed refresh keeps the last offset (clocks do not jump by much in a minute); with
        none known yet, the database error is raised (the request answers 503).
        """
        if self._offset is not None and time.monotonic() - self._measured_at < REFRESH_SECONDS:
            return self._offset
        async with self._lock:
            if self._offset is None or time.monotonic() - self._measured_at >= REFRESH_SECONDS:
                try:
                    self._offset = await self._measure()
                except PyMongoError:
                    if self._offset is None:
                        raise
                    logger.warning("could not refresh the database clock offset")
                self._measured_at = time.monotonic()
        assert self._offset is not None  # noqa: S101 - set above or raised
        return self._offset

    async def now(self) -> datetime:
        """The database server's current time (UTC, millisecond precision)."""
        now = utc_now() + await self.offset()
        return now.replace(microsecond=now.microsecond // 1000 * 1000)


server_clock = ServerClock()
