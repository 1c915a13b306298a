"""Writes that must not be lost when the database goes away mid-request: retried in the background.

A stock put-back (compensation) or a lease release that fails because the database is down (or,
for a put-back, because the product stays busy while the database recovers) is handed to a task
that retries it, each try bounded, until it succeeds or RETRY_FOR_SECONDS pass.
The task runs in a fresh context, so the failed request's database deadline does not cut it
short; the request itself answers 503 at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable

import pymongo
from pymongo.errors import PyMongoError

from api_service.errors import ServiceUnavailable, worth_retrying

logger = logging.getLogger(__name__)

RETRY_FOR_SECONDS = 300.0
TRY_SECONDS = 5.0
PAUSE_SECONDS = 0.5

_pending: set[asyncio.Task[None]] = set()


async def _retry(what: str, write: Callable[[], Awaitable[None]]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RETRY_FOR_SECONDS
    while True:
        try:
            with pymongo.timeout(TRY_SECONDS):
                await write()
        except (PyMongoError, ServiceUnavailable) as exc:
            if not worth_retrying(exc) or loop.time() >= deadline:
                logger.exception("gave up retrying %s", what)
                return
            await asyncio.sleep(PAUSE_SECONDS)
        else:
            logger.info("retried %s: done", what)
            return


def retry_later(what: str, write: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
    """Start retrying a write in the background (the task is kept until it ends)."""
    task = asyncio.get_running_loop().create_task(
        _retry(what, write), context=contextvars.Context()
    )
    _pending.add(task)
    task.add_done_callback(_pending.discard)
    logger.warning("database unavailable: %s will be retried in the background", what)
    return task


async def drain(seconds: float) -> None:
    """Wait (bounded) for background retries still running, e.g. at shut-down."""
    if _pending:
        await asyncio.wait(set(_pending), timeout=seconds)
