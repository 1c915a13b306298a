"""Per-product leases so stock changes stay serial on FerretDB (used only where it is detected).

MongoDB applies a conditional update ({"stock": {"$gte": qty}} + $inc) atomically, which alone
prevents overselling. FerretDB 1.24 (SQLite) does not: its updates read and then write, so
concurrent updates from different connections lose each other (measured: 100 concurrent
conditional $inc on stock 10 "succeeded" 68 times). A unique insert is atomic on both, so a
lease document whose _id is the product id serialises the writers of one product, across
workers and replicas. Leases expire, so a crashed holder cannot block a product for long.
Within one process, waiters for the same product queue on an asyncio.Lock first, so only one
of them at a time polls the database.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError, PyMongoError

from api_service.clock import utc_now
from api_service.errors import ProductBusy, database_unavailable
from api_service.models import StockLock
from api_service.services.later import retry_later
from api_service.services.stockmode import StockWrites

LEASE = timedelta(seconds=10)
WAIT_SECONDS = 10.0
_BACKOFF_START, _BACKOFF_MAX = 0.001, 0.02


async def _acquire(key: str, owner: str, wait_seconds: float) -> None:
    collection = StockLock.get_pymongo_collection()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    backoff = _BACKOFF_START
    while True:
        now = utc_now()
        try:
            await collection.insert_one({"_id": key, "owner": owner, "expires_at": now + LEASE})
        except DuplicateKeyError:
            await collection.delete_one({"_id": key, "expires_at": {"$lt": now}})
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError) or database_unavailable(exc):
                # Sent, but no answer: our lease may be stored although we do not hold it. Left,
                # it would block the product until it expires and stay until another writer
                # comes; remove it (by owner, so never someone else's) in the background.
                _release_later(key, owner)
            raise
        else:
            return
        if loop.time() >= deadline:
            raise ProductBusy("the product is busy; try again")
        await asyncio.sleep(random.uniform(0, backoff))  # noqa: S311 - jitter, not crypto
        backoff = min(backoff * 2, _BACKOFF_MAX)


_local_locks: dict[str, asyncio.Lock] = {}
_local_users: dict[str, int] = {}


@asynccontextmanager
async def _local_lock(key: str, wait_seconds: float) -> AsyncIterator[None]:
    """This process's queue for one product (dropped when nobody waits)."""
    lock = _local_locks.setdefault(key, asyncio.Lock())
    _local_users[key] = _local_users.get(key, 0) + 1
    try:
        try:
            async with asyncio.timeout(wait_seconds):
                await lock.acquire()
        except TimeoutError as exc:
            raise ProductBusy("the product is busy; try again") from exc
        try:
            yield
        finally:
            lock.release()
    finally:
        _local_users[key] -= 1
        if not _local_users[key]:
            del _local_users[key]
            del _local_locks[key]


@asynccontextmanager
async def product_lock(
    product_id: PydanticObjectId, wait_seconds: float = WAIT_SECONDS
) -> AsyncIterator[None]:
    """Hold the lease on one product for the duration of the block."""
    key, owner = str(product_id), uuid.uuid4().hex
    async with _local_lock(key, wait_seconds):
        await _acquire(key, owner, wait_seconds)
        try:
            yield
        finally:
            await _release(key, owner)


def _deleter(key: str, owner: str) -> Callable[[], Awaitable[None]]:
    async def delete() -> None:
        await StockLock.get_pymongo_collection().delete_one({"_id": key, "owner": owner})

    return delete


def _release_later(key: str, owner: str) -> None:
    retry_later(f"release the lease on product {key}", _deleter(key, owner))


async def _release(key: str, owner: str) -> None:
    """Delete our lease; if the database is away, retry in the background (it also expires).

    A failed release must not fail the block it guarded: the stock write inside may have
    succeeded, and the caller has to know that to keep its books (and put units back).
    """
    try:
        await _deleter(key, owner)()
    except PyMongoError as exc:
        if not database_unavailable(exc):
            raise
        _release_later(key, owner)


@asynccontextmanager
async def stock_guard(product_id: PydanticObjectId, mode: StockWrites) -> AsyncIterator[None]:
    """The product's lease where the database needs it ("lease"), nothing on MongoDB."""
    if mode == "lease":
        async with product_lock(product_id):
            yield
    else:
        yield
