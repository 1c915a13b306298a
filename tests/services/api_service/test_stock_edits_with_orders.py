"""Admin stock edits beside the orders' stock ledger: versions move, takes and fences stay."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from beanie import PydanticObjectId
from fastapi import FastAPI

from api_service.models import Order, OrderStatus, Product, RequestedLine, StockLock
from api_service.services import ledger, products
from api_service.services.conditional import Condition
from api_service.services.servertime import server_clock
from api_service.services.settle import Timing, op_for
from api_service.services.stocklock import stock_guard, take_over_if_expired
from api_service.services.stockmode import StockWrites
from api_service.services.sweeper import sweep
from tests.services.api_service.conftest import (
    adjust,
    admin,
    assert_error,
    bearer,
    create_product,
    ordering,
    stored,
)

TIMING = Timing(timedelta(seconds=15))
BOTH_MODES = pytest.mark.parametrize("app_client", ["lease", "conditional"], indirect=True)


@pytest.fixture
async def app_client(
    start_app: Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]],
    request: pytest.FixtureRequest,
) -> tuple[FastAPI, httpx.AsyncClient]:
    """The app (stock writes as the test asks, else as detected), its own sweeper idle."""
    return await start_app(order_sweep_seconds=3600, stock_writes=getattr(request, "param", "auto"))


@pytest.fixture
def mode(app: FastAPI) -> StockWrites:
    """The stock-write mode the app under test runs."""
    running: StockWrites = app.state.stock_writes
    return running


async def stuck_take(product_id: str, qty: int, mode: StockWrites) -> RequestedLine:
    """A take recorded by the real ledger for an order left `reserving` past its settling time."""
    order_id = PydanticObjectId()
    line = RequestedLine(
        product_id=PydanticObjectId(product_id), qty=qty, op=op_for(order_id, 0, qty)
    )
    deadline = await server_clock.now() - TIMING.margin - timedelta(seconds=1)
    await Order(
        id=order_id,
        user_id=PydanticObjectId(),
        status=OrderStatus.RESERVING,
        requested=[line],
        deadline=deadline,
        idempotency_key=f"u:{order_id}",
        attempt=0,
    ).insert()
    await ledger.take(line, mode)
    return line


@BOTH_MODES
async def test_a_put_back_moves_the_version_so_a_read_before_it_cannot_undo_it(
    client: httpx.AsyncClient, admin_token: str, mode: StockWrites
) -> None:
    product = await create_product(client, admin_token, stock=10)
    url = f"/products/{product['id']}"
    await stuck_take(product["id"], 3, mode)
    read = await client.get(url)
    assert (read.json()["stock"], read.headers["ETag"]) == (7, '"1"')
    report = await sweep(mode, TIMING)
    assert (report.orders_expired, report.units_returned) == (1, 3)
    # The admin meant "5 more than I saw": as an absolute value it would drop the 3 returned.
    edit = {"name": "Mug", "price": 1250, "stock": 12}
    stale = await client.put(url, json=edit, headers=admin(admin_token, read.headers["ETag"]))
    message = (
        "the product changed since it was read: its version is now 2;"
        " read it again (GET /products/{id}) and retry with its ETag"
    )
    assert_error(stale, 412, "precondition_failed", message, current_version=2)
    stale_delta = await adjust(client, admin_token, product["id"], 5, **{"If-Match": '"1"'})
    assert_error(stale_delta, 412, "precondition_failed", message, current_version=2)
    after = await stored(product["id"])
    assert (after["stock"], after["version"], after["takes"]) == (10, 2, [])
    fresh = await client.put(url, json={**edit, "stock": 15}, headers=admin(admin_token, '"2"'))
    assert (fresh.status_code, fresh.json()["stock"], fresh.headers["ETag"]) == (200, 15, '"3"')


@BOTH_MODES
async def test_admin_writes_keep_the_takes_ledger_and_the_fence_entries(
    client: httpx.AsyncClient, admin_token: str, mode: StockWrites
) -> None:
    product = await create_product(client, admin_token, stock=10)
    url = f"/products/{product['id']}"
    line = await stuck_take(product["id"], 3, mode)
    # As a takeover leaves it: the owner of an expired lease fenced out of the product.
    await Product.get_pymongo_collection().update_one(
        {"_id": PydanticObjectId(product["id"])}, {"$addToSet": {"fenced": "expired-owner"}}
    )
    renamed = await client.put(url, json={"name": "Cup", "price": 900}, headers=bearer(admin_token))
    removed = await adjust(client, admin_token, product["id"], -2)
    edit = {"name": "Cup", "price": 900, "stock": 20}
    restocked = await client.put(url, json=edit, headers=admin(admin_token, '"3"'))
    assert [r.status_code for r in (renamed, removed, restocked)] == [200, 200, 200]
    after = await stored(product["id"])
    assert (after["stock"], after["version"], after["takes"], after["fenced"]) == (
        20,
        4,
        [line.op],
        ["expired-owner"],
    )
    # The recorded take is still settled: its 3 units come back on top of the admin's 20.
    report = await sweep(mode, TIMING)
    assert (report.orders_expired, report.units_returned, report.errors) == (1, 3, [])
    settled = await stored(product["id"])
    assert (settled["stock"], settled["version"], settled["takes"]) == (23, 5, [])


@pytest.mark.parametrize("app_client", ["lease"], indirect=True)
async def test_an_admin_write_whose_lease_was_taken_over_writes_nothing(
    client: httpx.AsyncClient, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = await create_product(client, admin_token, stock=10)
    owners: list[str] = []

    @asynccontextmanager
    async def stalled(product_id: PydanticObjectId, mode: StockWrites) -> AsyncIterator[Condition]:
        """The real lease, which expires and is taken over before the write is sent."""
        async with stock_guard(product_id, mode) as fence:
            lease = await StockLock.get_pymongo_collection().find_one({"_id": str(product_id)})
            assert lease is not None
            owners.append(lease["owner"])
            past = await server_clock.now() - timedelta(seconds=1)
            await StockLock.get_pymongo_collection().update_one(
                {"_id": str(product_id)}, {"$set": {"expires_at": past}}
            )
            assert await take_over_if_expired(str(product_id), await server_clock.now())
            yield fence

    monkeypatch.setattr(products, "stock_guard", stalled)
    late = await adjust(client, admin_token, product["id"], -4)
    assert_error(late, 503, "service_unavailable", "the product is busy; try again")
    after = await stored(product["id"])
    assert (after["stock"], after["version"], after["fenced"]) == (10, 0, owners)
    monkeypatch.setattr(products, "stock_guard", stock_guard)
    again = await adjust(client, admin_token, product["id"], -4)
    assert (again.status_code, again.json()["stock"], again.headers["ETag"]) == (200, 6, '"1"')


async def test_admin_deltas_during_orders_that_give_stock_back_keep_the_books(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    """12 orders of 2 A + 1 B (B has 3), 4 x +5 and 4 x -1 on A at the same time.

    Every order takes A first; the 9 that find B sold out put A's 2 units back. So A's version
    is 12 takes + 9 put-backs + 8 admin writes, and its stock 100 - 3 x 2 + 20 - 4.
    """
    a = await create_product(client, admin_token, stock=100, name="A")
    b = await create_product(client, admin_token, stock=3, name="B")
    body = {"items": [{"productId": a["id"], "qty": 2}, {"productId": b["id"], "qty": 1}]}
    orders = [client.post("/orders", json=body, headers=ordering(user_token)) for _ in range(12)]
    deltas = [adjust(client, admin_token, a["id"], d) for d in (5, -1) * 4]
    responses = await asyncio.gather(*orders, *deltas)
    outcomes = Counter(
        (r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else "ok")
        for r in responses
    )
    assert outcomes == {(201, "ok"): 3, (409, "out_of_stock"): 9, (200, "ok"): 8}
    units: Counter[str] = Counter()
    for order in await Order.find({"status": OrderStatus.CONFIRMED.value}).to_list():
        for line in order.items:
            units[str(line.product_id)] += line.qty
    after_a, after_b = await stored(a["id"]), await stored(b["id"])
    # Stock + units in confirmed orders == initial stock + the admin's applied deltas.
    assert after_a["stock"] + units[a["id"]] == 100 + 4 * 5 - 4 * 1
    assert after_b["stock"] + units[b["id"]] == 3
    assert (after_a["stock"], after_a["version"], after_a["takes"]) == (110, 29, [])
    assert (after_b["stock"], after_b["version"], after_b["takes"]) == (0, 3, [])
    assert await Order.find({"status": OrderStatus.RESERVING.value}).count() == 0
