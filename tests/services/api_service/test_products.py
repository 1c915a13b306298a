"""The catalogue: public reads with pagination, admin-only writes, strict input, 404s, ETags."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from beanie import PydanticObjectId

from api_service.etags import IfMatch
from api_service.models import Product
from tests.services.api_service.conftest import admin, bearer, create_product, sell, stored

NEW = {"name": "Teapot", "description": "Glazed", "price": 2599, "stock": 3}


async def test_list_is_a_json_array_with_pagination_headers(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    created = [await create_product(client, admin_token, name=f"P{n}") for n in range(5)]
    first = await client.get("/products", params={"limit": 2})
    assert first.status_code == 200
    assert [p["name"] for p in first.json()] == ["P0", "P1"]
    assert first.headers["X-Total-Count"] == "5"
    assert first.headers["Link"] == ('<http://api.test/products?limit=2&offset=2>; rel="next"')
    middle = await client.get("/products", params={"limit": 2, "offset": 2})
    assert [p["id"] for p in middle.json()] == [created[2]["id"], created[3]["id"]]
    assert 'rel="next"' in middle.headers["Link"]
    assert '<http://api.test/products?limit=2&offset=0>; rel="prev"' in middle.headers["Link"]
    last = await client.get("/products", params={"limit": 2, "offset": 4})
    assert [p["name"] for p in last.json()] == ["P4"]
    assert 'rel="next"' not in last.headers["Link"]


async def test_offset_past_the_end_is_empty_with_the_true_total(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    for n in range(3):
        await create_product(client, admin_token, name=f"P{n}")
    response = await client.get("/products", params={"limit": 2, "offset": 10})
    assert response.json() == []
    assert response.headers["X-Total-Count"] == "3"
    assert response.headers["Link"] == '<http://api.test/products?limit=2&offset=8>; rel="prev"'
    full_page = await client.get("/products", params={"limit": 3})
    assert full_page.headers["X-Total-Count"] == "3"
    assert "Link" not in full_page.headers


async def test_empty_list_is_an_empty_array(client: httpx.AsyncClient) -> None:
    response = await client.get("/products")
    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["X-Total-Count"] == "0"
    assert "Link" not in response.headers


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "ten"}])
async def test_pagination_bounds_are_enforced(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await client.get("/products", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_get_product_by_id(client: httpx.AsyncClient, admin_token: str) -> None:
    product = await create_product(client, admin_token, price=1250, stock=10)
    response = await client.get(f"/products/{product['id']}")
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["price"], body["stock"]) == ("Mug", 1250, 10)
    assert set(body) == {"id", "name", "description", "price", "stock", "createdAt", "updatedAt"}
    assert response.headers["ETag"] == '"0"'


async def test_the_list_shows_each_product_exactly_as_its_own_read_does(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    product = await create_product(client, admin_token, name="Ünïcode ☕ mug")
    listed = await client.get("/products")
    single = await client.get(f"/products/{product['id']}")
    assert listed.headers["Content-Type"] == single.headers["Content-Type"] == "application/json"
    assert listed.content == b"[" + single.content + b"]"
    assert listed.json() == [product]


async def test_a_product_stored_without_its_optional_fields_is_listed_with_their_defaults(
    client: httpx.AsyncClient,
) -> None:
    inserted = await Product.get_pymongo_collection().insert_one(
        {"name": "Old", "price": 100, "stock": 4}
    )
    [listed] = (await client.get("/products")).json()
    assert {k: v for k, v in listed.items() if k not in ("createdAt", "updatedAt")} == {
        "id": str(inserted.inserted_id),
        "name": "Old",
        "description": "",
        "price": 100,
        "stock": 4,
    }
    assert listed["createdAt"] == listed["updatedAt"]


@pytest.mark.parametrize("product_id", ["65f0c0ffee0000000000beef", "not-an-id", "1234"])
async def test_unknown_or_malformed_id_is_404(client: httpx.AsyncClient, product_id: str) -> None:
    response = await client.get(f"/products/{product_id}")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "product not found",
        "request_id": response.headers["X-Request-ID"],
    }


async def test_admin_creates_product(client: httpx.AsyncClient, admin_token: str) -> None:
    response = await client.post("/products", json=NEW, headers=bearer(admin_token))
    assert response.status_code == 201
    assert {k: response.json()[k] for k in NEW} == NEW
    assert response.headers["ETag"] == '"0"'
    stored = await Product.get(PydanticObjectId(response.json()["id"]))
    assert stored is not None
    assert (stored.price, stored.stock, stored.version) == (2599, 3, 0)


async def test_create_without_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/products", json=NEW)
    assert response.status_code == 401
    assert await Product.count() == 0


async def test_create_as_shopper_is_403(client: httpx.AsyncClient, user_token: str) -> None:
    response = await client.post("/products", json=NEW, headers=bearer(user_token))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert await Product.count() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", 12.5),
        ("price", "1250"),
        ("price", -1),
        ("price", 10**30),
        ("price", True),
        ("stock", 1_000_001),
        ("stock", -5),
        ("stock", 2.5),
        ("name", ""),
        ("name", "x" * 201),
        ("name", 7),
        ("description", "d" * 2001),
        ("id", "65f0c0ffee0000000000beef"),
        ("createdAt", "2020-01-01T00:00:00Z"),
        ("owner", "me"),
    ],
)
async def test_create_rejects_bad_fields_and_writes_nothing(
    client: httpx.AsyncClient, admin_token: str, field: str, value: object
) -> None:
    response = await client.post(
        "/products", json={**NEW, field: value}, headers=bearer(admin_token)
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"][:2] == ["body", field]
    assert await Product.count() == 0


async def test_huge_json_number_is_422(client: httpx.AsyncClient, admin_token: str) -> None:
    body = b'{"name": "X", "price": 1e400, "stock": 1}'
    response = await client.post(
        "/products",
        content=body,
        headers={**bearer(admin_token), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert await Product.count() == 0


async def test_admin_replaces_product(client: httpx.AsyncClient, admin_token: str) -> None:
    product = await create_product(client, admin_token)
    response = await client.put(
        f"/products/{product['id']}", json=NEW, headers=admin(admin_token, '"0"')
    )
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in NEW} == NEW
    assert body["id"] == product["id"]
    assert body["createdAt"] == product["createdAt"]
    assert body["updatedAt"] > product["updatedAt"]
    assert response.headers["ETag"] == '"1"'
    assert (await client.get(f"/products/{product['id']}")).json()["price"] == 2599
    assert (await stored(product["id"]))["version"] == 1


async def test_replace_with_bad_body_is_422_and_changes_nothing(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    product = await create_product(client, admin_token)
    response = await client.put(
        f"/products/{product['id']}", json={**NEW, "price": 9.99}, headers=bearer(admin_token)
    )
    assert response.status_code == 422
    assert (await client.get(f"/products/{product['id']}")).json()["price"] == 1250


async def test_replace_needs_admin(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    product = await create_product(client, admin_token)
    url = f"/products/{product['id']}"
    assert (await client.put(url, json=NEW)).status_code == 401
    assert (await client.put(url, json=NEW, headers=bearer(user_token))).status_code == 403
    assert (await client.get(url)).json()["name"] == "Mug"


async def test_replace_unknown_is_404(client: httpx.AsyncClient, admin_token: str) -> None:
    for product_id in ("65f0c0ffee0000000000beef", "zzz"):
        response = await client.put(
            f"/products/{product_id}", json=NEW, headers=bearer(admin_token)
        )
        assert response.status_code == 404


async def test_replace_of_product_deleted_meanwhile_is_404(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    from api_service.schemas.products import ProductReplace  # noqa: PLC0415
    from api_service.services import products  # noqa: PLC0415

    product = await create_product(client, admin_token)
    stored = await Product.get(product["id"])
    assert stored is not None
    await stored.delete()
    with pytest.raises(products.NotFound):
        await products.replace_product(
            stored, ProductReplace.model_validate(NEW), "lease", IfMatch(frozenset({0}))
        )
    with pytest.raises(products.NotFound):
        await products.delete_product(stored)


async def test_admin_deletes_product(client: httpx.AsyncClient, admin_token: str) -> None:
    product = await create_product(client, admin_token)
    url = f"/products/{product['id']}"
    response = await client.delete(url, headers=bearer(admin_token))
    assert response.status_code == 200
    assert response.json() == {"id": product["id"], "deleted": True}
    assert (await client.get(url)).status_code == 404
    assert (await client.delete(url, headers=bearer(admin_token))).status_code == 404


async def test_delete_needs_admin(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    product = await create_product(client, admin_token)
    url = f"/products/{product['id']}"
    assert (await client.delete(url)).status_code == 401
    assert (await client.delete(url, headers=bearer(user_token))).status_code == 403
    assert await Product.count() == 1


async def test_whole_float_price_and_stock_are_stored_as_integers(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    body = '{"name": "Mug", "price": 1250.0, "stock": 14.0}'
    response = await client.post(
        "/products",
        content=body,
        headers={**bearer(admin_token), "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    stored = await Product.get(PydanticObjectId(response.json()["id"]))
    assert stored is not None
    assert (stored.price, stored.stock) == (1250, 14)
    assert (type(stored.price), type(stored.stock)) == (int, int)


async def test_replace_without_stock_keeps_the_stock_and_needs_no_if_match(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    product = await create_product(client, admin_token, stock=10)
    no_stock = {k: v for k, v in NEW.items() if k != "stock"}
    response = await client.put(
        f"/products/{product['id']}", json=no_stock, headers=bearer(admin_token)
    )
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["stock"]) == ("Teapot", 10)
    assert response.headers["ETag"] == '"1"'
    after = await stored(product["id"])
    assert (after["name"], after["price"], after["stock"], after["version"]) == (
        "Teapot",
        2599,
        10,
        1,
    )


async def test_a_product_stored_without_a_version_is_version_0(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    legacy = {"name": "Old", "description": "", "price": 100, "stock": 4}
    inserted = await Product.get_pymongo_collection().insert_one(legacy)
    url = f"/products/{inserted.inserted_id}"
    assert (await client.get(url)).headers["ETag"] == '"0"'
    response = await client.put(url, json={**NEW, "stock": 5}, headers=admin(admin_token, '"0"'))
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"1"'
    after = await stored(str(inserted.inserted_id))
    assert (after["stock"], after["version"]) == (5, 1)


async def test_every_write_increments_the_version(
    client: httpx.AsyncClient, admin_token: str, user_token: str
) -> None:
    product = await create_product(client, admin_token)
    url = f"/products/{product['id']}"
    renamed = await client.put(url, json={"name": "Cup", "price": 900}, headers=bearer(admin_token))
    assert renamed.headers["ETag"] == '"1"'
    adjusted = await client.patch(f"{url}/stock", json={"delta": 2}, headers=bearer(admin_token))
    assert adjusted.headers["ETag"] == '"2"'
    assert (await sell(client, user_token, product["id"], 1)).status_code == 201
    assert (await client.get(url)).headers["ETag"] == '"3"'
    replaced = await client.put(url, json=NEW, headers=admin(admin_token, '"3"'))
    assert replaced.headers["ETag"] == '"4"'
    after = await stored(product["id"])
    assert (after["name"], after["stock"], after["version"]) == ("Teapot", 3, 4)


async def test_openapi_documents_the_stock_write_answers(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    put = paths["/products/{product_id}"]["put"]
    patch = paths["/products/{product_id}/stock"]["patch"]
    get = paths["/products/{product_id}"]["get"]
    assert sorted(put["responses"]) == [
        "200", "400", "401", "403", "404", "412", "413", "422", "428", "503"
    ]  # fmt: skip
    assert sorted(patch["responses"]) == [
        "200", "400", "401", "403", "404", "409", "412", "413", "422", "503"
    ]  # fmt: skip
    for operation in (get, put, patch):
        assert operation["responses"]["200"]["headers"]["ETag"]["required"] is True
    assert put["responses"]["412"]["headers"]["ETag"]["required"] is True
    assert [p["name"] for p in put["parameters"] if p["in"] == "header"] == ["If-Match"]
