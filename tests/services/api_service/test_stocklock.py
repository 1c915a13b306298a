"""Per-product leases: exclusive, in database time, fenced when taken over, always released."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pymongo
import pytest
from beanie import PydanticObjectId
from pymongo.errors import AutoReconnect

from api_service.clock import utc_now
from api_service.errors import ServiceUnavailable
from api_service.models import LeaseTakeover, Product, StockLock
from api_service.services import stocklock
from api_service.services.servertime import server_clock
from api_service.services.stocklock import lease_length, product_lock, take_over_if_expired

PRODUCT = PydanticObjectId("65f0c0ffee0000000000beef")


async def _lease() -> dict[str, Any]:
    lease = await StockLock.get_pymongo_collection().find_one({"_id": str(PRODUCT)})
    assert lease is not None
    return lease


async def test_lease_is_held_inside_and_released_after(client: httpx.AsyncClient) -> None:
    async with product_lock(PRODUCT):
        assert await StockLock.count() == 1
    assert await StockLock.count() == 0


async def test_a_lease_outlasts_the_request_deadline_in_database_time(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """15 s request deadline + 15 s margin; expiry on the server's clock, not this process's."""
    assert lease_length() == timedelta(seconds=30)
    monkeypatch.setattr(server_clock, "_offset", timedelta(hours=1))  # the server runs ahead
    async with product_lock(PRODUCT):
        expires_at = (await _lease())["expires_at"]
    ahead = expires_at - (utc_now() + timedelta(hours=1))
    assert timedelta(seconds=28) < ahead <= timedelta(seconds=30)


async def test_lease_held_elsewhere_makes_a_writer_give_up_with_503(
    client: httpx.AsyncClient,
) -> None:
    await StockLock.get_pymongo_collection().insert_one(
        {
            "_id": str(PRODUCT),
            "owner": "another-process",
            "expires_at": await server_clock.now() + timedelta(seconds=30),
        }
    )
    with pytest.raises(ServiceUnavailable, match="busy"):
        async with product_lock(PRODUCT, wait_seconds=0.05):
            pytest.fail("must not get the lease")
    assert (await _lease())["owner"] == "another-process"


async def test_expired_lease_of_a_crashed_holder_is_taken_over_and_fenced(
    client: httpx.AsyncClient,
) -> None:
    product = Product(id=PRODUCT, name="Mug", price=100, stock=5)
    await product.insert()
    await StockLock.get_pymongo_collection().insert_one(
        {
            "_id": str(PRODUCT),
            "owner": "crashed",
            "expires_at": await server_clock.now() - timedelta(seconds=1),
        }
    )
    async with product_lock(PRODUCT, wait_seconds=1):
        assert (await _lease())["owner"] != "crashed"
    raw = await Product.get_pymongo_collection().find_one({"_id": PRODUCT})
    assert raw is not None
    assert raw["fenced"] == ["crashed"]
    assert [c.owner for c in await LeaseTakeover.find_all().to_list()] == ["crashed"]


async def test_a_holder_whose_lease_was_taken_over_cannot_write(
    client: httpx.AsyncClient,
) -> None:
    await Product(id=PRODUCT, name="Mug", price=100, stock=5).insert()
    products = Product.get_pymongo_collection()
    async with product_lock(PRODUCT) as stalled:
        # The holder stalls past its lease; another process takes the lease over.
        past = await server_clock.now() - timedelta(seconds=1)
        await StockLock.get_pymongo_collection().update_one(
            {"_id": str(PRODUCT)}, {"$set": {"expires_at": past}}
        )
        assert await take_over_if_expired(str(PRODUCT), await server_clock.now())
        assert not await take_over_if_expired(str(PRODUCT), await server_clock.now())
        late = await products.find_one_and_update(
            {"_id": PRODUCT, **stalled.fence.filter}, {"$inc": {"stock": -1}}
        )
    assert late is None
    raw = await products.find_one({"_id": PRODUCT})
    assert raw is not None
    assert (raw["stock"], raw["fenced"]) == (5, [stalled.owner])


async def test_a_lease_is_released_even_after_the_request_deadline_passed(
    client: httpx.AsyncClient,
) -> None:
    with pymongo.timeout(0.5):
        async with product_lock(PRODUCT):
            await asyncio.sleep(0.6)
    assert await StockLock.count() == 0


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

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def insert_one(self, document: dict[str, Any]) -> None:
        await self.real.insert_one(document)
        raise AutoReconnect("connection closed before the reply")

    async def find_one_and_delete(self, query: dict[str, Any]) -> Any:
        return await self.real.find_one_and_delete(query)


async def test_a_lease_stored_without_an_answer_is_removed_at_once(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = StockLock.get_pymongo_collection()
    monkeypatch.setattr(StockLock, "get_pymongo_collection", lambda: _AnswerLost(real))
    with pytest.raises(AutoReconnect):
        async with product_lock(PRODUCT):
            pytest.fail("must not enter without the answer")
    await asyncio.wait_for(asyncio.gather(*stocklock._releasing), timeout=10)
    assert await real.count_documents({}) == 0
