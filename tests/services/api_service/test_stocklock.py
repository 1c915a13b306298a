"""Per-product leases: exclusive, time-bounded, and expired leases are taken over."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from beanie import PydanticObjectId
from pymongo.errors import AutoReconnect

from api_service.clock import utc_now
from api_service.errors import ServiceUnavailable
from api_service.models import StockLock
from api_service.services import later
from api_service.services.stocklock import product_lock

PRODUCT = PydanticObjectId("65f0c0ffee0000000000beef")


async def test_lease_is_held_inside_and_released_after(client: httpx.AsyncClient) -> None:
    async with product_lock(PRODUCT):
        assert await StockLock.count() == 1
    assert await StockLock.count() == 0


async def test_lease_held_elsewhere_makes_a_writer_give_up_with_503(
    client: httpx.AsyncClient,
) -> None:
    await StockLock.get_pymongo_collection().insert_one(
        {
            "_id": str(PRODUCT),
            "owner": "another-process",
            "expires_at": utc_now() + timedelta(seconds=30),
        }
    )
    with pytest.raises(ServiceUnavailable, match="busy"):
        async with product_lock(PRODUCT, wait_seconds=0.05):
            pytest.fail("must not get the lease")
    assert (await StockLock.get_pymongo_collection().find_one({"_id": str(PRODUCT)}) or {})[
        "owner"
    ] == "another-process"


async def test_expired_lease_of_a_crashed_holder_is_taken_over(client: httpx.AsyncClient) -> None:
    await StockLock.get_pymongo_collection().insert_one(
        {"_id": str(PRODUCT), "owner": "crashed", "expires_at": utc_now() - timedelta(seconds=1)}
    )
    async with product_lock(PRODUCT, wait_seconds=1):
        doc = await StockLock.get_pymongo_collection().find_one({"_id": str(PRODUCT)})
        assert doc is not None
        assert doc["owner"] != "crashed"


async def test_local_waiter_times_out_with_503(client: httpx.AsyncClient) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with product_lock(PRODUCT):
            entered.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await entered.wait()
    with pytest.raises(ServiceUnavailable):
        async with product_lock(PRODUCT, wait_seconds=0.05):
            pytest.fail("must not get the lease")
    release.set()
    await task
    assert await StockLock.count() == 0


class _AnswerLost:
    """The lease collection, but an insert is stored and its answer lost (the database stopped)."""

    def __init__(self, real: Any) -> None:
        self.real = real

    async def insert_one(self, document: dict[str, Any]) -> None:
        await self.real.insert_one(document)
        raise AutoReconnect("connection closed before the reply")

    async def delete_one(self, query: dict[str, Any]) -> None:
        await self.real.delete_one(query)


async def test_a_lease_stored_without_an_answer_is_removed_in_the_background(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = StockLock.get_pymongo_collection()
    monkeypatch.setattr(StockLock, "get_pymongo_collection", lambda: _AnswerLost(real))
    with pytest.raises(AutoReconnect):
        async with product_lock(PRODUCT):
            pytest.fail("must not enter without the answer")
    await later.drain(seconds=5)
    assert (await real.count_documents({}), later._pending) == (0, set())
