"""The driver floor against a real FerretDB: its commands, its writes, and the report's shape."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient

from microshop_ci.bench.compare import Pair, markdown_floor
from microshop_ci.bench.floor import ENDPOINTS, Floor, Target, floor_client, load
from microshop_ci.bench.floorproc import count_floor_commands, run_floor
from microshop_ci.bench.wrk import WrkResult

STOCK = 1_000


@pytest.fixture
def target(mongodb_uri: str) -> Iterator[Target]:
    """Three products and a shopper in a database of their own, dropped afterwards."""
    database = f"floor_{ObjectId()}"
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    try:
        db = client[database]
        ids = [ObjectId() for _ in range(3)]
        db.products.insert_many(
            [
                {"_id": i, "name": f"P{n}", "price": 100 + n, "stock": STOCK, "takes": []}
                for n, i in enumerate(ids)
            ]
        )
        user = db.users.insert_one({"email": "shopper@example.com", "role": "user"}).inserted_id
        yield Target(mongodb_uri, database, tuple(map(str, ids)), str(user), "shopper@example.com")
    finally:
        client.drop_database(database)
        client.close()


def _books(target: Target) -> tuple[int, int, list[Any], int]:
    """Units left, confirmed order units, takes still recorded, leases left."""
    with MongoClient(target.uri) as client:
        db = client[target.database]
        stock = sum(p["stock"] for p in db.products.find())
        sold = db.orders.count_documents({"status": "confirmed"})
        takes = [t for p in db.products.find() for t in p["takes"]]
        return stock, sold, takes, db.stock_locks.count_documents({})


def test_the_floor_sends_the_apis_commands(target: Target) -> None:
    counts = {c.endpoint: c for c in count_floor_commands(target, requests=5)}
    assert list(counts) == list(ENDPOINTS)
    assert {e: c.per_request for e, c in counts.items()} == {
        "GET /products": 1,
        "GET /products/{id}": 1,
        "POST /auth/login": 1,
        "POST /orders": 11,
    }
    # The API's POST /orders on FerretDB (tests/services/api_service/test_commands.py).
    assert counts["POST /orders"].describe() == (
        "find orders x1, find products x1, find users x1, findAndModify orders x1, "
        "findAndModify products x2, findAndModify stock_locks x2, insert orders x1, "
        "insert stock_locks x2"
    )
    assert _books(target) == (3 * STOCK - 6, 6, [], 0)  # 5 orders + the warm-up one


def test_concurrent_floor_orders_keep_the_books(target: Target) -> None:
    async def orders() -> int:
        client = floor_client(target.uri)
        try:
            sample = await load(Floor(client[target.database], target).op("POST /orders"), 8, 0.5)
        finally:
            await client.close()
        assert sample.errors == 0
        return len(sample.latencies)

    placed = asyncio.run(orders())
    assert _books(target) == (3 * STOCK - placed, placed, [], 0)


def test_a_short_floor_run_fills_the_report(target: Target) -> None:
    pairs = []
    for endpoint in ENDPOINTS:
        result = run_floor(target, endpoint, 3, 2, 0.3, warm=0.05)
        assert (result.errors, len(result.peaks_mib)) == (0, 2)  # 3 connections over 2 processes
        api = WrkResult(1.0, 1.0, 1.0, 10, 0, 0)
        pairs.append(Pair(endpoint, 3, api, 1.0, result))
    rows = markdown_floor(pairs, {}, {}).splitlines()
    assert len(rows) == 2 + len(ENDPOINTS)
    assert [row.count("|") for row in rows] == [13] * len(rows)
    assert [row.split("|")[1].strip() for row in rows[2:]] == list(ENDPOINTS)
    stock, sold, takes, leases = _books(target)
    assert (stock + sold, takes, leases) == (3 * STOCK, [], 0)
