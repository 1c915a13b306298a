"""The sweeper settles from what is stored: expired orders, recorded takes, leases, old claims."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from beanie import PydanticObjectId

from api_service.models import LeaseTakeover, Order, OrderStatus, Product, RequestedLine, StockLock
from api_service.services import sweeper
from api_service.services.servertime import server_clock
from api_service.services.settle import Timing, op_for
from api_service.services.sweeper import CLAIM_KEEP, SweepReport, run_sweeper, sweep

TIMING = Timing(timedelta(seconds=15))
MODES = pytest.mark.parametrize("mode", ["lease", "conditional", "transaction"])


@pytest.fixture
async def client(start_app: Any) -> httpx.AsyncClient:
    """The app with its own sweeper idle (an hour apart), so only the test's passes run."""
    _, started = await start_app(order_sweep_seconds=3600)
    return started


async def _product(stock: int = 10) -> Product:
    product = Product(name="Mug", price=100, stock=stock)
    await product.insert()
    return product


async def _order(product: Product, qty: int, status: OrderStatus, deadline: datetime) -> Order:
    """An order whose one line's take is recorded on the product (stock already taken)."""
    order_id = PydanticObjectId()
    line = RequestedLine(
        product_id=PydanticObjectId(product.id), qty=qty, op=op_for(order_id, 0, qty)
    )
    order = Order(
        id=order_id,
        user_id=PydanticObjectId(),
        status=status,
        requested=[line],
        deadline=deadline,
        idempotency_key=f"u:{order_id}",
        attempt=0,
    )
    await order.insert()
    await Product.get_pymongo_collection().update_one(
        {"_id": product.id}, {"$inc": {"stock": -qty}, "$push": {"takes": line.op}}
    )
    return order


async def _state(product: Product) -> tuple[int, list[str]]:
    stored = await Product.get(product.id)
    assert stored is not None
    return stored.stock, stored.takes


async def _status(order: Order) -> tuple[str, str | None]:
    stored = await Order.get(order.id)
    assert stored is not None
    return stored.status.value, stored.outcome.code if stored.outcome else None


@MODES
async def test_an_order_left_reserving_past_its_margin_is_cancelled_and_given_back(
    client: httpx.AsyncClient, mode: str
) -> None:
    product = await _product()
    now = await server_clock.now()
    order = await _order(product, 3, OrderStatus.RESERVING, now - TIMING.margin - timedelta(1))
    report = await sweep(mode, TIMING)  # type: ignore[arg-type]
    assert (report.orders_expired, report.units_returned, report.errors) == (1, 3, [])
    assert await _status(order) == ("cancelled", "expired")
    assert await _state(product) == (10, [])


@MODES
async def test_an_order_within_its_margin_is_left_alone(
    client: httpx.AsyncClient, mode: str
) -> None:
    product = await _product()
    now = await server_clock.now()
    order = await _order(product, 3, OrderStatus.RESERVING, now - TIMING.margin + timedelta(5))
    assert not await sweep(mode, TIMING)  # type: ignore[arg-type]
    assert await _status(order) == ("reserving", None)
    assert await _state(product) == (7, [order.requested[0].op])


@MODES
async def test_a_confirmed_orders_take_is_dropped_and_its_units_stay_sold(
    client: httpx.AsyncClient, mode: str
) -> None:
    product = await _product()
    order = await _order(product, 4, OrderStatus.CONFIRMED, await server_clock.now())
    report = await sweep(mode, TIMING)  # type: ignore[arg-type]
    assert (report.ops_dropped, report.units_returned) == (1, 0)
    assert await _status(order) == ("confirmed", None)
    assert await _state(product) == (6, [])


@MODES
async def test_a_take_of_a_cancelled_or_missing_order_is_put_back(
    client: httpx.AsyncClient, mode: str
) -> None:
    product = await _product()
    now = await server_clock.now()
    cancelled = await _order(product, 2, OrderStatus.CANCELLED, now)
    missing = await _order(product, 5, OrderStatus.RESERVING, now)
    await missing.delete()
    report = await sweep(mode, TIMING)  # type: ignore[arg-type]
    assert (report.units_returned, report.orders_expired) == (7, 0)
    assert await _status(cancelled) == ("cancelled", None)
    assert await _state(product) == (10, [])


async def test_sweepers_running_at_once_give_each_unit_back_once(
    client: httpx.AsyncClient,
) -> None:
    product = await _product(stock=50)
    now = await server_clock.now()
    for qty in (1, 2, 3, 4):
        await _order(product, qty, OrderStatus.RESERVING, now - TIMING.margin - timedelta(1))
    reports = await asyncio.gather(*(sweep("lease", TIMING) for _ in range(4)))
    assert sum(r.units_returned for r in reports) == 10
    assert await _state(product) == (50, [])
    assert {o.status for o in await Order.find_all().to_list()} == {OrderStatus.CANCELLED}


async def test_an_expired_lease_whose_release_failed_is_removed(
    client: httpx.AsyncClient,
) -> None:
    product = await _product()
    now = await server_clock.now()
    await StockLock.get_pymongo_collection().insert_one(
        {"_id": str(product.id), "owner": "gone", "expires_at": now - timedelta(seconds=1)}
    )
    report = await sweep("lease", TIMING)
    assert (report.leases_removed, await StockLock.count()) == (1, 0)
    raw = await Product.get_pymongo_collection().find_one({"_id": product.id})
    assert raw is not None
    assert raw["fenced"] == ["gone"]
    later = await server_clock.now() + CLAIM_KEEP + timedelta(seconds=1)
    report = await sweep("lease", TIMING, now=later)
    assert (report.claims_removed, await LeaseTakeover.count()) == (1, 0)
    raw = await Product.get_pymongo_collection().find_one({"_id": product.id})
    assert raw is not None
    assert raw["fenced"] == []


async def test_the_sweeper_stops_when_cancelled_even_if_a_pass_lost_the_cancel(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As PyMongo's send can on Python 3.11: the cancel arrives, the pass still runs to its end."""
    passes: list[str] = []
    entered = asyncio.Event()

    async def pass_that_loses_the_cancel(*_: object) -> SweepReport:
        passes.append("started")
        entered.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            passes.append("ran on")
        return SweepReport()

    monkeypatch.setattr(sweeper, "sweep", pass_that_loses_the_cancel)
    task = asyncio.create_task(run_sweeper("lease", TIMING, interval=3600))
    await asyncio.wait_for(entered.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=10)
    assert passes == ["started", "ran on"]
