"""The driver floor: each endpoint's database commands sent straight through PyMongo's async client.

What the API sends per request (counted by commands.py, read from its code) without HTTP,
validation or serialisation: the most this database and driver allow at that concurrency.
Hand-written per endpoint because it must mirror the API's own queries; the report shows both
command counts side by side so a floor that fell behind the API's code is seen at once.
- GET /products: one `find` of 51 products sorted by _id (50 seeded: a last page, no count).
- GET /products/{id}: one `find` by _id.
- POST /auth/login: the user by email (the password check is argon2 in the API, not a query).
- POST /orders, FerretDB (lease): the user by _id; the order inserted `reserving`; under the
  product's lease (insert, then delete by owner) the product read by _id and its stock taken
  by _id; the order read and confirmed by _id; under the lease again its operation id pulled.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.monitoring import CommandListener

from microshop_ci.core.errors import MicroshopError

LEASE_SECONDS = 30
LEASE_WAIT_SECONDS = 10.0
ENDPOINTS = ("GET /products", "GET /products/{id}", "POST /auth/login", "POST /orders")


class FloorBusy(MicroshopError):  # noqa: N818 - named like the API's ProductBusy it stands for
    """A product's lease was not free within LEASE_WAIT_SECONDS, or its stock ran out."""


@dataclass(frozen=True)
class Target:
    """What the floor works on: the database, the seeded products and the shopper."""

    uri: str
    database: str
    products: tuple[str, ...]
    user_id: str
    email: str


def floor_client(
    uri: str, listeners: Sequence[CommandListener] = ()
) -> AsyncMongoClient[dict[str, Any]]:
    """A client with the API's options (api_service.database.new_client): pool size included."""
    return AsyncMongoClient(
        uri, serverSelectionTimeoutMS=5_000, tz_aware=True, event_listeners=list(listeners)
    )


@dataclass
class Floor:
    """The four endpoints' queries on one database; leases queue per product in this process."""

    db: AsyncDatabase[dict[str, Any]]
    target: Target
    rng: random.Random = field(default_factory=random.Random)
    _queues: dict[str, asyncio.Lock] = field(default_factory=dict)

    def op(self, endpoint: str) -> Callable[[], Awaitable[None]]:
        """The coroutine function that does one request's queries for endpoint."""
        ops = {
            "GET /products": self.list_products,
            "GET /products/{id}": self.get_product,
            "POST /auth/login": self.login,
            "POST /orders": self.place_order,
        }
        if endpoint not in ops:
            raise ValueError(f"no driver floor for {endpoint!r}; one of: {', '.join(ops)}")
        return ops[endpoint]

    async def list_products(self) -> None:
        """The first page, one more than it shows (50 + 1)."""
        await self.db.products.find({}, sort=[("_id", 1)], limit=51).to_list()

    async def get_product(self) -> None:
        """A random product by _id."""
        await self.db.products.find_one({"_id": ObjectId(self.rng.choice(self.target.products))})

    async def login(self) -> None:
        """The shopper by email."""
        await self.db.users.find_one({"email": self.target.email})

    async def place_order(self) -> None:
        """One unit of a random product, as the API places it on FerretDB (11 commands)."""
        await self.db.users.find_one({"_id": ObjectId(self.target.user_id)})
        order_id, product_id = ObjectId(), ObjectId(self.rng.choice(self.target.products))
        op = f"{order_id}:0:1"
        now = datetime.now(UTC)
        await self.db.orders.insert_one(
            {
                "_id": order_id,
                "user_id": ObjectId(self.target.user_id),
                "items": [],
                "total": 0,
                "created_at": now,
                "status": "reserving",
                "requested": [{"product_id": product_id, "qty": 1, "op": op}],
                "idempotency_key": f"{self.target.user_id}:floor-{order_id}",
                "attempt": 0,
                "request_hash": "0" * 64,
                "deadline": now + timedelta(seconds=15),
                "outcome": None,
            }
        )
        async with self._lease(product_id) as owner:
            product = await self.db.products.find_one({"_id": product_id})
            if product is None or product["stock"] < 1 or owner in product.get("fenced", []):
                raise FloorBusy(f"product {product_id} cannot be taken")
            await self.db.products.find_one_and_update(
                {"_id": product_id},
                {"$inc": {"stock": -1, "version": 1}, "$push": {"takes": op}},
            )
        line = {"product_id": product_id, "name": product["name"], "qty": 1}
        line |= {"unit_price": product["price"], "line_total": product["price"]}
        await self.db.orders.find_one({"_id": order_id})
        await self.db.orders.find_one_and_update(
            {"_id": order_id},
            {"$set": {"status": "confirmed", "items": [line], "total": product["price"]}},
            return_document=ReturnDocument.AFTER,
        )
        async with self._lease(product_id):
            await self.db.products.find_one_and_update(
                {"_id": product_id}, {"$pullAll": {"takes": [op]}}
            )

    @asynccontextmanager
    async def _lease(self, product_id: ObjectId) -> AsyncIterator[str]:
        """The product's lease: this process's queue, then a unique insert; deleted by owner."""
        key, owner = str(product_id), uuid.uuid4().hex
        queue = self._queues.setdefault(key, asyncio.Lock())
        async with queue:
            deadline = time.monotonic() + LEASE_WAIT_SECONDS
            backoff = 0.001
            while True:
                expires = datetime.now(UTC) + timedelta(seconds=LEASE_SECONDS)
                try:
                    await self.db.stock_locks.insert_one(
                        {"_id": key, "owner": owner, "expires_at": expires}
                    )
                    break
                except DuplicateKeyError:  # the API reads the lease to see if it expired
                    await self.db.stock_locks.find_one({"_id": key})
                if time.monotonic() >= deadline:
                    raise FloorBusy(f"product {key} stayed leased")
                await asyncio.sleep(self.rng.uniform(0, backoff))
                backoff = min(backoff * 2, 0.02)
            try:
                yield owner
            finally:
                await self.db.stock_locks.find_one_and_delete({"_id": key, "owner": owner})


@dataclass(frozen=True)
class Sample:
    """One load run of one process: latencies (s) of the requests done, failures, seconds."""

    latencies: list[float]
    errors: int
    seconds: float


async def load(op: Callable[[], Awaitable[None]], tasks: int, seconds: float) -> Sample:
    """`tasks` concurrent loops doing op until `seconds` have passed."""
    latencies: list[float] = []
    errors = 0
    end = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal errors
        while time.monotonic() < end:
            started = time.perf_counter()
            try:
                await op()
            except (PyMongoError, FloorBusy):
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(tasks)))
    return Sample(latencies, errors, time.perf_counter() - started)
