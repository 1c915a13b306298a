"""Stock writes: absolute only against the version read (If-Match), relative by an atomic delta."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from beanie import PydanticObjectId

from api_service.errors import ProductBusy
from api_service.services import products
from api_service.services.conditional import field_is
from tests.services.api_service.conftest import (
    BOTH_PATHS,
    adjust,
    admin,
    assert_error,
    bearer,
    create_product,
    sell,
    stored,
)

NEW = {"name": "Teapot", "description": "Glazed", "price": 2599, "stock": 3}


@pytest.mark.parametrize("headers", [{}, {"If-Match": "*"}])
async def test_stock_write_without_a_version_is_428_and_changes_nothing(
    client: httpx.AsyncClient, admin_token: str, headers: dict[str, str]
) -> None:
    product = await create_product(client, admin_token)
    before = await stored(product["id"])
    response = await client.put(
        f"/products/{product['id']}", json=NEW, headers={**bearer(admin_token), **headers}
    )
    assert_error(
        response,
        428,
        "precondition_required",
        "a write of stock needs If-Match with the product's ETag from GET /products/{id}"
        " (or change the stock by a delta: PATCH /products/{id}/stock)",
    )
    assert await stored(product["id"]) == before


@pytest.mark.parametrize("value", ["0", '"0', "W/0", '"0" "1"', "", '"a b"', "**", '*, "0"'])
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_malformed_if_match_is_400_naming_the_header_and_changes_nothing(
    client: httpx.AsyncClient, admin_token: str, method: str, value: str
) -> None:
    product = await create_product(client, admin_token)
    before = await stored(product["id"])
    url, body = f"/products/{product['id']}", NEW
    if method == "PATCH":
        url, body = f"{url}/stock", {"delta": 1}
    response = await client.request(method, url, json=body, headers=admin(admin_token, value))
    assert_error(
        response,
        400,
        "bad_request",
        'If-Match must be * or a list of quoted entity tags such as "3"'
        " (the ETag of GET /products/{id})",
    )
    assert await stored(product["id"]) == before


@pytest.mark.parametrize(
    "value", ['"0"', 'W/"1"', '"01"', '"abc"', '"0", "2"', '"99999999999999999999"']
)
async def test_if_match_naming_another_version_is_412_with_the_current_one(
    client: httpx.AsyncClient, admin_token: str, value: str
) -> None:
    product = await create_product(client, admin_token)
    url = f"/products/{product['id']}"
    renamed = await client.put(url, json={"name": "Cup", "price": 900}, headers=bearer(admin_token))
    assert renamed.headers["ETag"] == '"1"'
    before = await stored(product["id"])
    response = await client.put(url, json=NEW, headers=admin(admin_token, value))
    assert_error(
        response,
        412,
        "precondition_failed",
        "the product changed since it was read: its version is now 1;"
        " read it again (GET /products/{id}) and retry with its ETag",
        current_version=1,
    )
    assert response.headers["ETag"] == '"1"'
    assert await stored(product["id"]) == before


async def test_if_match_listing_the_current_version_among_others_writes(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    product = await create_product(client, admin_token)
    # Two If-Match lines are one list (RFC 9110): "7", "0" names the current version 0.
    headers = [*bearer(admin_token).items(), ("If-Match", '"7", '), ("If-Match", '"0"')]
    response = await client.put(f"/products/{product['id']}", json=NEW, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"1"'
    assert (await stored(product["id"]))["stock"] == 3


async def test_a_sale_between_the_admins_read_and_write_is_not_undone(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    product = await create_product(client, admin_token, stock=10)
    url = f"/products/{product['id']}"
    read = await client.get(url)
    assert (read.json()["stock"], read.headers["ETag"]) == (10, '"0"')
    sold = await sell(client, user_token, product["id"], 3)
    assert sold.status_code == 201, sold.text
    # The admin writes back what they read, with a new price: that would bring back 3 units.
    edit = {**NEW, "stock": read.json()["stock"]}
    stale = await client.put(url, json=edit, headers=admin(admin_token, read.headers["ETag"]))
    assert stale.status_code == 412
    assert stale.json()["error"]["current_version"] == 1
    assert stale.headers["ETag"] == '"1"'
    after_sale = await stored(product["id"])
    assert (after_sale["stock"], after_sale["price"], after_sale["version"]) == (7, 1250, 1)
    fresh = await client.put(url, json={**edit, "stock": 12}, headers=admin(admin_token, '"1"'))
    assert fresh.status_code == 200, fresh.text
    assert (fresh.json()["stock"], fresh.headers["ETag"]) == (12, '"2"')


async def test_a_delta_adds_and_removes_units(client: httpx.AsyncClient, admin_token: str) -> None:
    product = await create_product(client, admin_token, stock=10)
    added = await adjust(client, admin_token, product["id"], 5)
    assert added.status_code == 200, added.text
    assert (added.json()["stock"], added.headers["ETag"]) == (15, '"1"')
    emptied = await adjust(client, admin_token, product["id"], -15)
    assert (emptied.json()["stock"], emptied.headers["ETag"]) == (0, '"2"')
    unchanged = await adjust(client, admin_token, product["id"], 0)
    assert (unchanged.json()["stock"], unchanged.headers["ETag"]) == (0, '"3"')
    after = await stored(product["id"])
    assert (after["stock"], after["version"], after["name"]) == (0, 3, "Mug")


@pytest.mark.parametrize(
    ("stock", "delta", "message"),
    [
        (10, -11, "stock is 10; a change of -11 would take it below 0"),
        (0, -1, "stock is 0; a change of -1 would take it below 0"),
        (999_999, 2, "stock is 999999; a change of +2 would take it above 1000000"),
    ],
)
async def test_a_delta_leaving_the_range_is_409_with_the_current_stock(
    client: httpx.AsyncClient, admin_token: str, stock: int, delta: int, message: str
) -> None:
    product = await create_product(client, admin_token, stock=stock)
    before = await stored(product["id"])
    response = await adjust(client, admin_token, product["id"], delta)
    assert_error(response, 409, "stock_out_of_range", message, current_stock=stock)
    assert await stored(product["id"]) == before


@pytest.mark.parametrize("delta", [1.5, "3", True, None, 1_000_001, -1_000_001])
async def test_a_bad_delta_is_422_and_changes_nothing(
    client: httpx.AsyncClient, admin_token: str, delta: object
) -> None:
    product = await create_product(client, admin_token)
    before = await stored(product["id"])
    response = await adjust(client, admin_token, product["id"], delta)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"][:2] == ["body", "delta"]
    assert await stored(product["id"]) == before


async def test_a_delta_with_a_stale_if_match_is_412_before_the_range_check(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    product = await create_product(client, admin_token, stock=10)
    await adjust(client, admin_token, product["id"], 1)
    before = await stored(product["id"])
    stale = await adjust(client, admin_token, product["id"], -20, **{"If-Match": '"0"'})
    assert stale.status_code == 412
    assert (stale.json()["error"]["current_version"], stale.headers["ETag"]) == (1, '"1"')
    assert await stored(product["id"]) == before
    current = await adjust(client, admin_token, product["id"], -4, **{"If-Match": '"1"'})
    assert (current.status_code, current.json()["stock"], current.headers["ETag"]) == (
        200,
        7,
        '"2"',
    )


async def test_a_delta_needs_an_admin_and_a_known_product(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    product = await create_product(client, admin_token)
    url = f"/products/{product['id']}/stock"
    assert (await client.patch(url, json={"delta": 1})).status_code == 401
    as_shopper = await client.patch(url, json={"delta": 1}, headers=bearer(user_token))
    assert as_shopper.status_code == 403
    unknown = await adjust(client, admin_token, "65f0c0ffee0000000000beef", 1)
    assert unknown.status_code == 404
    assert (await stored(product["id"]))["stock"] == 10


@BOTH_PATHS
async def test_concurrent_deltas_and_orders_never_take_stock_below_zero(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    product = await create_product(client, admin_token, stock=5)
    removals = [adjust(client, admin_token, product["id"], -1) for _ in range(10)]
    sales = [sell(client, user_token, product["id"], 1) for _ in range(10)]
    responses = await asyncio.gather(*removals, *sales)
    outcomes = Counter(
        (r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else "ok")
        for r in responses
    )
    successes = outcomes[(200, "ok")] + outcomes[(201, "ok")]
    refusals = outcomes[(409, "stock_out_of_range")] + outcomes[(409, "out_of_stock")]
    assert (successes, refusals) == (5, 15), outcomes
    after = await stored(product["id"])
    assert (after["stock"], after["version"]) == (0, 5)


async def test_a_write_that_misses_for_no_reason_it_can_see_gives_up_after_three_tries(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    product = await create_product(client, admin_token, stock=10)
    before = await stored(product["id"])
    seen: list[int] = []
    with pytest.raises(ProductBusy):
        # The condition never holds, yet the product as read says nothing is wrong: the write
        # is tried again (on MongoDB the product may have changed in between), then refused.
        await products._write(
            PydanticObjectId(product["id"]),
            field_is("stock", -1),
            {"$inc": {"stock": 1}},
            "lease",
            lambda current: seen.append(current["stock"]),
        )
    assert seen == [10, 10, 10]
    assert await stored(product["id"]) == before
