"""POST /orders with an Idempotency-Key: one order per key, the first outcome on every retry."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from api_service.models import Order, OrderStatus, Product
from api_service.services.servertime import server_clock
from tests.services.api_service.conftest import (
    BOTH_PATHS,
    bearer,
    create_product,
    ordering,
    register,
    stock_of,
)


@BOTH_PATHS
async def test_the_same_key_twice_is_one_order_and_the_same_answer(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    mug = await create_product(client, admin_token, stock=10)
    body = {"items": [{"productId": mug["id"], "qty": 2}]}
    headers = ordering(user_token)
    first = await client.post("/orders", json=body, headers=headers)
    second = await client.post("/orders", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert await stock_of(mug["id"]) == 8
    assert await Order.count() == 1
    mine = await client.get("/orders/me", headers=bearer(user_token))
    assert [order["id"] for order in mine.json()] == [first.json()["id"]]


@BOTH_PATHS
async def test_the_same_key_sent_concurrently_places_one_order(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    mug = await create_product(client, admin_token, stock=100)
    body = {"items": [{"productId": mug["id"], "qty": 3}]}
    headers = ordering(user_token)
    responses = await asyncio.gather(
        *(client.post("/orders", json=body, headers=headers) for _ in range(20))
    )
    placed = {r.json()["id"] for r in responses if r.status_code == 201}
    in_progress = [r for r in responses if r.status_code == 409]
    assert len(placed) == 1
    assert len(in_progress) + sum(r.status_code == 201 for r in responses) == 20
    assert {r.json()["error"]["code"] for r in in_progress} <= {"order_in_progress"}
    assert {r.headers["Retry-After"] for r in in_progress} <= {"1"}
    final = await client.post("/orders", json=body, headers=headers)
    assert (final.status_code, final.json()["id"]) == (201, placed.pop())
    assert await stock_of(mug["id"]) == 97
    assert await Order.count() == 1


@BOTH_PATHS
async def test_the_same_key_of_another_user_is_another_order(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    mug = await create_product(client, admin_token, stock=10)
    other = await register(client, "other@example.com")
    body = {"items": [{"productId": mug["id"], "qty": 1}]}
    key = "shared-key-0001"
    mine = await client.post("/orders", json=body, headers=ordering(user_token, key))
    theirs = await client.post("/orders", json=body, headers=ordering(other, key))
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert await stock_of(mug["id"]) == 8


@BOTH_PATHS
async def test_a_key_reused_with_another_body_is_422_and_changes_nothing(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    mug = await create_product(client, admin_token, stock=10)
    headers = ordering(user_token)
    first = await client.post(
        "/orders", json={"items": [{"productId": mug["id"], "qty": 1}]}, headers=headers
    )
    assert first.status_code == 201
    reused = await client.post(
        "/orders", json={"items": [{"productId": mug["id"], "qty": 2}]}, headers=headers
    )
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in reused.json()["error"]["message"]
    assert (await stock_of(mug["id"]), await Order.count()) == (9, 1)


@BOTH_PATHS
async def test_an_out_of_stock_answer_is_replayed_even_after_a_restock(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    mug = await create_product(client, admin_token, stock=1)
    body = {"items": [{"productId": mug["id"], "qty": 2}]}
    headers = ordering(user_token)
    first = await client.post("/orders", json=body, headers=headers)
    assert (first.status_code, first.json()["error"]["code"]) == (409, "out_of_stock")
    await Product.get_pymongo_collection().update_one(
        {"_id": (await Product.get(mug["id"]) or pytest.fail("gone")).id}, {"$inc": {"stock": 5}}
    )
    again = await client.post("/orders", json=body, headers=headers)
    assert (again.status_code, again.json()["error"]["message"]) == (
        409,
        first.json()["error"]["message"],
    )
    assert (await stock_of(mug["id"]), await Order.count()) == (6, 1)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "the Idempotency-Key header is required"),
        ({"Idempotency-Key": "short"}, "the Idempotency-Key header must be one value"),
        ({"Idempotency-Key": "x" * 129}, "the Idempotency-Key header must be one value"),
        ({"Idempotency-Key": "has spaces in it"}, "the Idempotency-Key header must be one value"),
        ({"Idempotency-Key": '"unbalanced-quote'}, "the Idempotency-Key header must be one value"),
    ],
    ids=["missing", "short", "long", "spaces", "quote"],
)
async def test_a_missing_or_malformed_key_is_400_naming_the_header(
    client: httpx.AsyncClient,
    admin_token: str,
    user_token: str,
    headers: dict[str, str],
    message: str,
) -> None:
    mug = await create_product(client, admin_token, stock=10)
    body = {"items": [{"productId": mug["id"], "qty": 1}]}
    response = await client.post("/orders", json=body, headers={**bearer(user_token), **headers})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert response.json()["error"]["message"].startswith(message)
    assert (await stock_of(mug["id"]), await Order.count()) == (10, 0)


async def test_a_quoted_key_is_the_same_key(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    """The IETF draft spells the key as a quoted Structured Field string; both forms are one key."""
    mug = await create_product(client, admin_token, stock=10)
    body = {"items": [{"productId": mug["id"], "qty": 1}]}
    bare = await client.post("/orders", json=body, headers=ordering(user_token, "key-00000001"))
    quoted = await client.post("/orders", json=body, headers=ordering(user_token, '"key-00000001"'))
    assert (bare.status_code, quoted.json()) == (201, bare.json())
    assert await stock_of(mug["id"]) == 9


async def _stuck_order(user_token: str, client: httpx.AsyncClient, product_id: str) -> Order:
    """An order left reserving by a request that died after taking its stock."""
    headers = ordering(user_token)
    body = {"items": [{"productId": product_id, "qty": 4}]}
    response = await client.post("/orders", json=body, headers=headers)
    assert response.status_code == 201
    order = await Order.get(response.json()["id"])
    assert order is not None
    # Undo the confirmation as if the process had died before it: reserving, take recorded.
    line = order.requested[0]
    await Order.get_pymongo_collection().update_one(
        {"_id": order.id}, {"$set": {"status": "reserving", "items": [], "total": 0}}
    )
    await Product.get_pymongo_collection().update_one(
        {"_id": line.product_id}, {"$push": {"takes": line.op}}
    )
    order.status = OrderStatus.RESERVING
    return order


async def test_a_retry_while_the_first_attempt_may_run_is_409_in_progress(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    mug = await create_product(client, admin_token, stock=10)
    order = await _stuck_order(user_token, client, mug["id"])
    assert order.idempotency_key is not None
    key = order.idempotency_key.split(":", 1)[1]
    body = {"items": [{"productId": mug["id"], "qty": 4}]}
    response = await client.post("/orders", json=body, headers=ordering(user_token, key))
    assert (response.status_code, response.json()["error"]["code"]) == (409, "order_in_progress")
    assert response.headers["Retry-After"] == "1"  # still within its deadline
    assert (await stock_of(mug["id"]), await Order.count()) == (6, 1)


async def test_a_retry_after_an_expired_attempt_gives_the_stock_back_and_places_it(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    mug = await create_product(client, admin_token, stock=10)
    order = await _stuck_order(user_token, client, mug["id"])
    assert order.idempotency_key is not None
    past = await server_clock.now() - timedelta(hours=1)
    await Order.get_pymongo_collection().update_one({"_id": order.id}, {"$set": {"deadline": past}})
    key = order.idempotency_key.split(":", 1)[1]
    body = {"items": [{"productId": mug["id"], "qty": 4}]}
    response = await client.post("/orders", json=body, headers=ordering(user_token, key))
    assert response.status_code == 201
    assert response.json()["id"] != str(order.id)
    stored: dict[str, Any] = {
        str(o.id): (o.status.value, o.attempt, o.outcome and o.outcome.code)
        for o in await Order.find_all().to_list()
    }
    assert stored == {
        str(order.id): ("cancelled", 0, "expired"),
        response.json()["id"]: ("confirmed", 1, None),
    }
    product = await Product.get(mug["id"])
    assert product is not None
    assert (product.stock, product.takes) == (6, [])


async def test_the_api_starts_again_on_its_own_database_with_the_key_index(
    start_app: Any,
) -> None:
    """A second start finds every index already there (FerretDB must not be sent them at once)."""
    await start_app()
    await start_app()
    indexes = {
        index["name"]: bool(index.get("unique"))
        async for index in await Order.get_pymongo_collection().list_indexes()
    }
    assert indexes == {
        "_id_": False,
        "user_newest_first": False,
        "one_order_per_key_attempt": True,
        "by_status": False,
    }
