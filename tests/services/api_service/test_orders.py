"""Orders: server-side prices, no oversell under concurrency, compensation, strict input."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pymongo.errors import AutoReconnect

from api_service.models import Order, OrderStatus, Product
from tests.services.api_service.conftest import (
    BOTH_PATHS,
    bearer,
    create_product,
    ordering,
    register,
    stock_of,
)


async def states() -> dict[str, int]:
    """How many stored orders are in each state."""
    counts: dict[str, int] = {}
    for order in await Order.find_all().to_list():
        counts[order.status.value] = counts.get(order.status.value, 0) + 1
    return counts


@BOTH_PATHS
async def test_order_is_priced_by_the_server(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    mug = await create_product(client, admin_token, price=1250, stock=10, name="Mug")
    pot = await create_product(client, admin_token, price=2599, stock=5, name="Pot")
    body = {"items": [{"productId": mug["id"], "qty": 2}, {"productId": pot["id"], "qty": 1}]}
    response = await client.post("/orders", json=body, headers=ordering(user_token))
    assert response.status_code == 201
    order = response.json()
    assert order["items"] == [
        {"productId": mug["id"], "name": "Mug", "qty": 2, "unitPrice": 1250, "lineTotal": 2500},
        {"productId": pot["id"], "name": "Pot", "qty": 1, "unitPrice": 2599, "lineTotal": 2599},
    ]
    assert order["total"] == 5099
    assert response.headers["Cache-Control"] == "no-store"
    assert await stock_of(mug["id"]) == 8
    assert await stock_of(pot["id"]) == 4


async def test_order_needs_a_token(client: httpx.AsyncClient, admin_token: str) -> None:
    mug = await create_product(client, admin_token)
    response = await client.post("/orders", json={"items": [{"productId": mug["id"], "qty": 1}]})
    assert response.status_code == 401
    assert await stock_of(mug["id"]) == 10


@BOTH_PATHS
async def test_unknown_product_is_404_and_takes_nothing(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    mug = await create_product(client, admin_token)
    body = {
        "items": [
            {"productId": mug["id"], "qty": 1},
            {"productId": "65f0c0ffee0000000000beef", "qty": 1},
        ]
    }
    response = await client.post("/orders", json=body, headers=ordering(user_token))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert await stock_of(mug["id"]) == 10
    assert await states() == {"cancelled": 1}


@BOTH_PATHS
async def test_not_enough_stock_is_409(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    mug = await create_product(client, admin_token, stock=2)
    body = {"items": [{"productId": mug["id"], "qty": 3}]}
    response = await client.post("/orders", json=body, headers=ordering(user_token))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "out_of_stock"
    assert await stock_of(mug["id"]) == 2


@BOTH_PATHS
async def test_order_failing_on_second_item_leaves_first_stock_unchanged(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    first = await create_product(client, admin_token, stock=10, name="First")
    second = await create_product(client, admin_token, stock=1, name="Second")
    body = {"items": [{"productId": first["id"], "qty": 4}, {"productId": second["id"], "qty": 2}]}
    response = await client.post("/orders", json=body, headers=ordering(user_token))
    assert response.status_code == 409
    assert await stock_of(first["id"]) == 10
    assert await stock_of(second["id"]) == 1
    assert await states() == {"cancelled": 1}


@BOTH_PATHS
async def test_hundred_concurrent_orders_on_stock_ten_sell_exactly_ten(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    mug = await create_product(client, admin_token, stock=10)
    body = {"items": [{"productId": mug["id"], "qty": 1}]}

    async def order() -> httpx.Response:
        return await client.post("/orders", json=body, headers=ordering(user_token))

    responses = await asyncio.gather(*(order() for _ in range(100)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 10
    assert statuses.count(409) == 90
    assert {r.json()["error"]["message"] for r in responses if r.status_code == 409} == {
        f"not enough stock for product {mug['id']}"
    }
    assert await stock_of(mug["id"]) == 0
    assert await states() == {"confirmed": 10, "cancelled": 90}


@BOTH_PATHS
async def test_concurrent_multi_item_orders_never_oversell_and_compensate(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    a = await create_product(client, admin_token, stock=30, name="A")
    b = await create_product(client, admin_token, stock=5, name="B")
    body = {"items": [{"productId": a["id"], "qty": 1}, {"productId": b["id"], "qty": 1}]}
    responses = await asyncio.gather(
        *(client.post("/orders", json=body, headers=ordering(user_token)) for _ in range(20))
    )
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 5
    assert statuses.count(409) == 15
    assert await stock_of(b["id"]) == 0
    assert await stock_of(a["id"]) == 25


@pytest.mark.parametrize(
    "body",
    [
        {"items": []},
        {"items": [{"productId": "not-an-id", "qty": 1}]},
        {"items": [{"productId": "PID", "qty": 0}]},
        {"items": [{"productId": "PID", "qty": -1}]},
        {"items": [{"productId": "PID", "qty": 1.5}]},
        {"items": [{"productId": "PID", "qty": "1"}]},
        {"items": [{"productId": "PID", "qty": True}]},
        {"items": [{"productId": "PID", "qty": 10**20}]},
        {"items": [{"productId": "PID", "qty": 1001}]},
        {"items": [{"productId": "PID", "qty": 1, "price": 1}]},
        {"items": [{"productId": "PID", "qty": 1}], "total": 1},
        {"items": [{"productId": "PID", "qty": 1}] * 51},
        {"items": "PID"},
        {},
    ],
    ids=[
        "empty",
        "malformed-id",
        "zero",
        "negative",
        "fraction",
        "string",
        "boolean",
        "huge",
        "over-max",
        "price-field",
        "total-field",
        "too-many",
        "not-a-list",
        "missing",
    ],
)
async def test_bad_order_body_is_422_and_takes_nothing(
    client: httpx.AsyncClient, admin_token: str, user_token: str, body: dict[str, Any]
) -> None:
    mug = await create_product(client, admin_token, stock=10)
    raw = httpx.Request("POST", "/", json=body).content.decode().replace("PID", mug["id"])
    response = await client.post(
        "/orders",
        content=raw,
        headers={**ordering(user_token), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert await stock_of(mug["id"]) == 10
    assert await Order.count() == 0


async def test_lines_naming_the_same_product_are_added_together(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    mug = await create_product(client, admin_token, price=1250, stock=10, name="Mug")
    pot = await create_product(client, admin_token, price=2599, stock=5, name="Pot")
    body = {
        "items": [
            {"productId": mug["id"], "qty": 1},
            {"productId": pot["id"], "qty": 1},
            {"productId": mug["id"].upper(), "qty": 2},
        ]
    }
    response = await client.post("/orders", json=body, headers=ordering(user_token))
    assert response.status_code == 201
    assert response.json()["items"] == [
        {"productId": mug["id"], "name": "Mug", "qty": 3, "unitPrice": 1250, "lineTotal": 3750},
        {"productId": pot["id"], "name": "Pot", "qty": 1, "unitPrice": 2599, "lineTotal": 2599},
    ]
    assert await stock_of(mug["id"]) == 7
    assert await stock_of(pot["id"]) == 4


async def test_my_orders_newest_first_and_only_mine(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    mug = await create_product(client, admin_token, stock=10)
    other = await register(client, "other@example.com")
    placed = []
    for qty in (1, 2, 3):
        body = {"items": [{"productId": mug["id"], "qty": qty}]}
        response = await client.post("/orders", json=body, headers=ordering(user_token))
        placed.append(response.json()["id"])
    await client.post(
        "/orders", json={"items": [{"productId": mug["id"], "qty": 1}]}, headers=ordering(other)
    )
    mine = await client.get("/orders/me", headers=bearer(user_token))
    assert mine.status_code == 200
    assert [o["id"] for o in mine.json()] == list(reversed(placed))
    assert mine.headers["X-Total-Count"] == "3"
    page = await client.get(
        "/orders/me", params={"limit": 1, "offset": 1}, headers=bearer(user_token)
    )
    assert [o["id"] for o in page.json()] == [placed[1]]
    theirs = await client.get("/orders/me", headers=bearer(other))
    assert len(theirs.json()) == 1


async def test_my_orders_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/orders/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_a_whole_float_quantity_is_an_integer(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    """JSON Schema's integer includes 14.0; the schema says integer, so 14.0 orders 14."""
    mug = await create_product(client, admin_token, stock=20)
    raw = '{"items": [{"productId": "PID", "qty": 14.0}]}'.replace("PID", mug["id"])
    response = await client.post(
        "/orders", content=raw, headers={**ordering(user_token), "Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["items"][0]["qty"] == 14
    assert await stock_of(mug["id"]) == 6
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["OrderItemIn"]
    assert schema["properties"]["qty"]["type"] == "integer"


async def placed_orders() -> list[Order]:
    """Every stored order, whatever its state."""
    return await Order.find_all().to_list()


@pytest.mark.parametrize("stored", [True, False], ids=["stored", "not-stored"])
async def test_an_order_insert_without_an_answer_is_placed_once_by_a_retry(
    client: httpx.AsyncClient,
    admin_token: str,
    user_token: str,
    monkeypatch: pytest.MonkeyPatch,
    stored: bool,
) -> None:
    """The insert's reply is lost: 503 and nothing taken; the same key again places it once."""
    mug = await create_product(client, admin_token, stock=10)
    real_insert = Order.insert

    async def insert_then_lose_the_reply(self: Order, **kwargs: Any) -> Order:
        if stored:
            await real_insert(self, **kwargs)
        raise AutoReconnect("connection closed")

    monkeypatch.setattr(Order, "insert", insert_then_lose_the_reply)
    body = {"items": [{"productId": mug["id"], "qty": 3}]}
    headers = ordering(user_token)
    response = await client.post("/orders", json=body, headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (503, "service_unavailable")
    assert await stock_of(mug["id"]) == 10
    first = [(o.status, o.outcome.code if o.outcome else None) for o in await placed_orders()]
    assert first == ([(OrderStatus.CANCELLED, "failed")] if stored else [])
    monkeypatch.undo()
    retried = await client.post("/orders", json=body, headers=headers)
    assert retried.status_code == 201
    again = await client.post("/orders", json=body, headers=headers)
    assert (again.status_code, again.json()) == (201, retried.json())
    assert await stock_of(mug["id"]) == 7
    statuses = sorted(o.status for o in await placed_orders())
    assert statuses == sorted([OrderStatus.CONFIRMED] + ([OrderStatus.CANCELLED] if stored else []))


async def test_a_stock_take_without_an_answer_is_given_back_by_its_operation_id(
    client: httpx.AsyncClient,
    admin_token: str,
    user_token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The take is applied but its reply lost: the put-back finds it by its op id and returns it."""
    mug = await create_product(client, admin_token, stock=10)
    real = Product.get_pymongo_collection
    lost: list[dict[str, Any]] = []

    class ReplyLost:
        def __getattr__(self, name: str) -> Any:
            return getattr(real(), name)

        async def find_one_and_update(
            self, query: dict[str, Any], update: dict[str, Any], **kw: Any
        ) -> Any:
            result = await real().find_one_and_update(query, update, **kw)
            if not lost and update.get("$inc", {}).get("stock", 0) < 0:  # the take
                lost.append(query)
                raise AutoReconnect("connection closed")
            return result

    monkeypatch.setattr(Product, "get_pymongo_collection", lambda: ReplyLost())
    body = {"items": [{"productId": mug["id"], "qty": 2}]}
    response = await client.post("/orders", json=body, headers=ordering(user_token))
    assert response.status_code == 503
    monkeypatch.undo()
    product = await Product.get(mug["id"])
    assert product is not None
    assert (product.stock, product.takes, len(lost)) == (10, [], 1)
    ((status, outcome),) = [(o.status, o.outcome) for o in await placed_orders()]
    assert (status, outcome and outcome.code) == (OrderStatus.CANCELLED, "failed")
