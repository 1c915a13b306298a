"""Orders in one transaction on a MongoDB replica set: what is sent, what is stored, no sweeping.

Skipped where MICROSHOP_TEST_MONGODB_URI names no replica set (FerretDB here); the pull request
workflow runs them on a single-node replica set (scripts/mongodb-replset).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from api_service.models import Order, Product
from api_service.services.servertime import server_clock
from api_service.services.settle import Timing
from api_service.services.sweeper import SweepReport, sweep
from tests.services.api_service.conftest import Starter, needs_transactions, ordering
from tests.services.api_service.test_commands import shop

pytestmark = needs_transactions


async def test_the_detected_mode_on_a_replica_set_is_the_transaction(start_app: Starter) -> None:
    app, _ = await start_app()
    assert app.state.stock_writes == "transaction"


async def test_an_order_is_its_takes_its_insert_and_the_commit(start_app: Starter) -> None:
    client, recorder, product_id, user = await shop(start_app, "transaction")
    body = {"items": [{"productId": product_id, "qty": 2}]}
    response = await client.post("/orders", json=body, headers=ordering(user))
    assert response.status_code == 201, response.text
    assert recorder.commands == [
        ("find", "users"),
        ("findAndModify", "products"),
        ("insert", "orders"),
        ("commitTransaction", ""),
    ]
    stored = await Order.get(response.json()["id"])
    product = await Product.get(product_id)
    assert stored is not None
    assert product is not None
    assert (stored.status.value, stored.deadline, stored.total) == ("confirmed", None, 2500)
    assert (product.stock, product.version, product.takes) == (3, 1, [])


async def test_out_of_stock_aborts_and_its_outcome_is_stored_after(start_app: Starter) -> None:
    client, recorder, product_id, user = await shop(start_app, "transaction")
    body = {"items": [{"productId": product_id, "qty": 6}]}
    response = await client.post("/orders", json=body, headers=ordering(user))
    assert (response.status_code, response.json()["error"]["code"]) == (409, "out_of_stock")
    assert recorder.commands == [
        ("find", "users"),
        ("findAndModify", "products"),
        ("find", "products"),
        ("abortTransaction", ""),
        ("insert", "orders"),
    ]
    (stored,) = await Order.find_all().to_list()
    assert stored.outcome is not None
    assert (stored.status.value, stored.outcome.code, stored.items) == (
        "cancelled",
        "out_of_stock",
        [],
    )
    product = await Product.get(product_id)
    assert product is not None
    assert (product.stock, product.version, product.takes) == (5, 0, [])


@pytest.mark.parametrize("qty", [1, 9])
async def test_the_sweeper_finds_nothing_to_settle_after_transaction_orders(
    start_app: Starter, qty: int
) -> None:
    client, _, product_id, user = await shop(start_app, "transaction")
    body = {"items": [{"productId": product_id, "qty": qty}]}
    first = await client.post("/orders", json=body, headers=ordering(user))
    assert first.status_code == (201 if qty == 1 else 409)
    later = await server_clock.now() + timedelta(hours=2)
    assert await sweep("transaction", Timing(timedelta(seconds=15)), now=later) == SweepReport()
    product = await Product.get(product_id)
    assert product is not None
    assert (product.stock, product.takes) == (5 - (qty == 1), [])
