"""Per-product leases with fencing, so stock changes stay serial on FerretDB (only where detected).

MongoDB applies a conditional update ({"stock": {"$gte": qty}} + $inc) atomically, which alone
prevents overselling. FerretDB 1.24 (SQLite) does not: its updates read and then write, so
concurrent updates from different connections lose each other (measured: 100 concurrent
conditional $inc on stock 10 "succeeded" 68 times). A unique insert is atomic on both, so a
lease document whose _id is the product id serialises the writers of one product, across
workers and replicas. Within one process, waiters queue on an asyncio.Lock first.

- Length: the request deadline plus LEASE_MARGIN (configure()), expiry in database time
  (services/servertime.py), so every pod agrees when a lease has ended.
- A write cannot land after its lease ended: inside the block every command runs under a
  deadline that ends LEASE_SAFETY_SECONDS before the lease (PyMongo's timeout; stock writes are
  findAndModify, which carries it as maxTimeMS and FerretDB enforces on the server).
- Fencing: an expired lease is removed only by the one process whose takeover claim (a unique
  insert in stock_lease_takeovers) succeeds, after it recorded the expired owner in the product's
  `fenced` list; every write under a lease requires its owner not to be in that list (checked as
  services/conditional.py checks conditions), so a holder whose lease was taken over cannot
  write any more.
- Release: by owner, under the lease's own deadline (not the request's, which may have passed),
  in a task of its own that a successful block waits for at most RELEASE_WAIT_SECONDS (a
  failed one not at all). A release that
  fails leaves the lease to expire; the next writer or the sweeper (services/sweeper.py) takes
  it over.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError, PyMongoError

from api_service.errors import ProductBusy, database_unavailable
from api_service.models import LeaseTakeover, Product, StockLock
from api_service.services.conditional import ALWAYS, Condition, not_in
from api_service.services.servertime import server_clock
from api_service.services.stockmode import StockWrites

logger = logging.getLogger(__name__)

LEASE_MARGIN = timedelta(seconds=15)
LEASE_SAFETY_SECONDS = 1.0
RELEASE_SECONDS = 5.0
RELEASE_WAIT_SECONDS = 1.0
WAIT_SECONDS = 10.0
_BACKOFF_START, _BACKOFF_MAX = 0.001, 0.02
_lease = timedelta(seconds=15) + LEASE_MARGIN
_releasing: set[asyncio.Task[None]] = set()


def configure(request_deadline_seconds: float) -> None:
    """Make leases outlast a request: its deadline plus LEASE_MARGIN (set at start-up)."""
    global _lease  # noqa: PLW0603 - one setting for the process, like the logging set-up
    _lease = timedelta(seconds=request_deadline_seconds) + LEASE_MARGIN


def lease_length() -> timedelta:
    """How long a lease lasts."""
    return _lease


@dataclass(frozen=True)
class Lease:
    """A held lease: the product key, our owner id, and when it ends on this process's clock."""

    key: str
    owner: str
    ends_at: float  # event loop time

    @property
    def fence(self) -> Condition:
        """The condition every write under this lease carries: its owner is not fenced out."""
        return not_in("fenced", self.owner)


def _expires_at(lease: dict[str, Any]) -> datetime:
    expires: datetime = lease["expires_at"]
    return expires if expires.tzinfo else expires.replace(tzinfo=UTC)


async def take_over_if_expired(key: str, now: datetime) -> bool:
    """Remove the product's lease if it has expired, fencing its owner out first.

    True when this call removed it. Only the winner of the takeover claim for that lease (one
    claim per lease length, so a claimant that died does not block the lease forever) fences
    and deletes, so the delete can never hit a newer lease.
    """
    lease = await StockLock.get_pymongo_collection().find_one({"_id": key})
    if lease is None or _expires_at(lease) >= now:
        return False
    owner = str(lease["owner"])
    window = int((now - _expires_at(lease)) / _lease)
    claim = {"_id": f"{key}/{owner}/{window}", "product_id": key, "owner": owner, "at": now}
    try:
        await LeaseTakeover.get_pymongo_collection().insert_one(claim)
    except DuplicateKeyError:
        return False
    await Product.get_pymongo_collection().find_one_and_update(
        {"_id": PydanticObjectId(key)}, {"$addToSet": {"fenced": owner}}
    )
    await StockLock.get_pymongo_collection().find_one_and_delete({"_id": key, "owner": owner})
    logger.info("took over an expired stock lease", extra={"product_id": key})
    return True


async def _acquire(key: str, wait_seconds: float) -> Lease:
    collection = StockLock.get_pymongo_collection()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    backoff = _BACKOFF_START
    owner = uuid.uuid4().hex
    while True:
        started = loop.time()
        now = await server_clock.now()
        lease = Lease(key, owner, started + _lease.total_seconds())
        try:
            await collection.insert_one({"_id": key, "owner": owner, "expires_at": now + _lease})
        except DuplicateKeyError:
            await take_over_if_expired(key, now)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError) or database_unavailable(exc):
                # Sent, but no answer: the lease may be stored although we do not know it.
                # Remove it by owner (never someone else's) without holding up the answer.
                _start_release(lease)
            raise
        else:
            return lease
        if loop.time() >= deadline:
            raise ProductBusy("the product is busy; try again")
        await asyncio.sleep(random.uniform(0, backoff))  # noqa: S311 - jitter, not crypto
        backoff = min(backoff * 2, _BACKOFF_MAX)


async def _release(lease: Lease) -> None:
    """Delete our lease under the lease's own deadline; not sent at all once it has ended."""
    seconds = min(RELEASE_SECONDS, lease.ends_at - asyncio.get_running_loop().time())
    if seconds <= LEASE_SAFETY_SECONDS:
        return
    with pymongo.timeout(seconds - LEASE_SAFETY_SECONDS):
        await StockLock.get_pymongo_collection().find_one_and_delete(
            {"_id": lease.key, "owner": lease.owner}
        )


def _start_release(lease: Lease) -> asyncio.Task[None]:
    """Run the release in a fresh context (the request's deadline may have passed)."""
    task = asyncio.get_running_loop().create_task(
        _release_logged(lease), context=contextvars.Context()
    )
    _releasing.add(task)
    task.add_done_callback(_releasing.discard)
    return task


async def _release_logged(lease: Lease) -> None:
    try:
        await _release(lease)
    except PyMongoError as exc:
        if not database_unavailable(exc):
            logger.exception("stock lease release failed")
            return
        logger.warning("stock lease not released; it expires", extra={"product_id": lease.key})


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
) -> AsyncIterator[Lease]:
    """Hold the lease on one product for the block; its commands end before the lease does.

    A failed release does not fail the block: the write inside may have succeeded, and the
    caller has to know that to keep its books.
    """
    key = str(product_id)
    async with _local_lock(key, wait_seconds):
        lease = await _acquire(key, wait_seconds)
        try:
            remaining = lease.ends_at - asyncio.get_running_loop().time() - LEASE_SAFETY_SECONDS
            with pymongo.timeout(max(remaining, 0.001)):
                yield lease
        except BaseException:
            _start_release(lease)  # a failed block (often: the database is away) does not wait
            raise
        # Waited for (one round trip), but not past RELEASE_WAIT_SECONDS; it goes on after that.
        await asyncio.wait({_start_release(lease)}, timeout=RELEASE_WAIT_SECONDS)


@asynccontextmanager
async def stock_guard(product_id: PydanticObjectId, mode: StockWrites) -> AsyncIterator[Condition]:
    """The product's lease where the database needs it ("lease"), nothing on MongoDB.

    Yields the condition every write of the block adds (services/conditional.py; ALWAYS
    without a lease).
    """
    if mode == "lease":
        async with product_lock(product_id) as lease:
            yield lease.fence
    else:
        yield ALWAYS
