"""The storefront against a running api-service process: browse, register, sign in, order."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.services.client_service.conftest import (
    RunningApi,
    csrf_of,
    order_key_of,
    sign_up,
    unique_email,
)

PASSWORD = "correct horse battery"


def order_form(html: str) -> dict[str, str]:
    """The hidden fields of a product page's order form: CSRF token and order key."""
    return {"csrf_token": csrf_of(html), "order_key": order_key_of(html)}


def product_name() -> str:
    return f"Item {uuid.uuid4().hex[:8]}"


async def test_product_list_shows_seeded_products_with_prices(
    shop: httpx.AsyncClient, api_service: RunningApi
) -> None:
    name = product_name()
    product_id = api_service.create_product(name, 1999, 7, "A fine thing")
    html = ""
    for number in range(1, 50):  # pages of 12; other tests add products too
        page = await shop.get(f"/?page={number}")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        if f'href="/products/{product_id}"' in html or f'href="/?page={number + 1}"' not in html:
            break
    assert f'href="/products/{product_id}"' in html
    assert name in html
    assert "$19.99" in html


async def test_product_page_shows_price_stock_and_asks_to_sign_in(
    shop: httpx.AsyncClient, api_service: RunningApi
) -> None:
    name = product_name()
    product_id = api_service.create_product(name, 123456, 4, "Heavy <b>duty</b>")
    page = await shop.get(f"/products/{product_id}")
    assert page.status_code == 200
    assert "$1,234.56" in page.text
    assert "4 in stock" in page.text
    assert "Heavy &lt;b&gt;duty&lt;/b&gt;" in page.text  # escaped, never raw HTML
    assert "Sign in</a> to order" in page.text
    assert 'action="/orders"' not in page.text


async def test_unknown_product_gives_a_404_page(shop: httpx.AsyncClient) -> None:
    for product_id in ("0" * 24, "not-an-id"):
        page = await shop.get(f"/products/{product_id}")
        assert page.status_code == 404
        assert "We could not find that product." in page.text


async def test_register_signs_the_visitor_in(shop: httpx.AsyncClient) -> None:
    email = unique_email()
    await sign_up(shop, email, PASSWORD)
    home = await shop.get("/")
    assert f"Welcome, {email}" in home.text
    assert "Sign out" in home.text
    assert (await shop.get("/")).text.count("Welcome,") == 0  # the flash shows once


async def test_register_twice_shows_the_api_conflict_on_the_form(
    shop: httpx.AsyncClient, api_service: RunningApi
) -> None:
    email = unique_email()
    with api_service.client() as api:
        assert (
            api.post("/auth/register", json={"email": email, "password": PASSWORD}).status_code
            == 201
        )
    form = await shop.get("/register")
    page = await shop.post(
        "/register", data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(form.text)}
    )
    assert page.status_code == 409
    assert 'class="error"' in page.text
    assert f'value="{email}"' in page.text
    assert PASSWORD not in page.text


async def test_register_with_a_short_password_shows_why(shop: httpx.AsyncClient) -> None:
    form = await shop.get("/register")
    page = await shop.post(
        "/register",
        data={"email": unique_email(), "password": "short", "csrf_token": csrf_of(form.text)},
    )
    assert page.status_code == 422
    error = re.search(r'class="error"[^>]*>([^<]*)<', page.text)
    assert error is not None
    assert "password" in error.group(1)


async def test_wrong_password_shows_the_api_message_and_signs_nobody_in(
    shop: httpx.AsyncClient, api_service: RunningApi
) -> None:
    email = unique_email()
    with api_service.client() as api:
        api.post("/auth/register", json={"email": email, "password": PASSWORD})
    form = await shop.get("/signin")
    page = await shop.post(
        "/signin",
        data={"email": email, "password": "wrong password!", "csrf_token": csrf_of(form.text)},
    )
    assert page.status_code == 401
    assert 'class="error"' in page.text
    assert "Sign out" not in page.text
    orders = await shop.get("/orders")
    assert orders.status_code == 303
    assert orders.headers["location"] == "/signin?next=%2Forders"


async def test_sign_in_returns_to_a_local_page_only(shop: httpx.AsyncClient) -> None:
    email = unique_email()
    await sign_up(shop, email, PASSWORD)
    await shop.post("/signout", data={"csrf_token": csrf_of((await shop.get("/")).text)})
    form = await shop.get("/signin?next=/orders")
    assert 'name="next_path" value="/orders"' in form.text
    signed_in = await shop.post(
        "/signin",
        data={
            "email": email,
            "password": PASSWORD,
            "next_path": "//evil.example/steal",
            "csrf_token": csrf_of(form.text),
        },
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/"


async def test_order_is_placed_priced_by_the_api_and_listed(
    shop: httpx.AsyncClient, api_service: RunningApi
) -> None:
    name = product_name()
    product_id = api_service.create_product(name, 250, 10)
    email = unique_email()
    await sign_up(shop, email, PASSWORD)
    page = await shop.get(f"/products/{product_id}")
    form = {"product_id": product_id, "qty": "3", **order_form(page.text)}
    placed = await shop.post("/orders", data=form)
    assert placed.status_code == 303
    assert placed.headers["location"] == "/orders"
    orders = await shop.get("/orders")
    assert orders.status_code == 200
    assert f"Order placed: 3 x {name}, total $7.50." in orders.text
    assert name in orders.text
    assert "$7.50" in orders.text
    assert api_service.product(product_id)["stock"] == 7
    stored = api_service.orders_of(api_service.login(email, PASSWORD))
    assert len(stored) == 1
    assert stored[0]["total"] == 750


async def test_the_same_order_form_sent_twice_places_one_order(
    shop: httpx.AsyncClient, api_service: RunningApi
) -> None:
    """A double submit (or a retry after a timeout) sends the form's key again: one order."""
    product_id = api_service.create_product(product_name(), 100, 10)
    email = unique_email()
    await sign_up(shop, email, PASSWORD)
    page = await shop.get(f"/products/{product_id}")
    form = {"product_id": product_id, "qty": "2", **order_form(page.text)}
    first, second = [await shop.post("/orders", data=form) for _ in range(2)]
    assert (first.status_code, second.status_code) == (303, 303)
    assert api_service.product(product_id)["stock"] == 8
    assert len(api_service.orders_of(api_service.login(email, PASSWORD))) == 1
    fresh = order_key_of((await shop.get(f"/products/{product_id}")).text)
    assert fresh != form["order_key"]


async def test_an_order_form_without_its_key_gives_a_400_page(
    shop: httpx.AsyncClient, api_service: RunningApi
) -> None:
    product_id = api_service.create_product(product_name(), 100, 10)
    await sign_up(shop, unique_email(), PASSWORD)
    page = await shop.get(f"/products/{product_id}")
    form = {"product_id": product_id, "qty": "1", "csrf_token": csrf_of(page.text)}
    response = await shop.post("/orders", data=form)
    assert response.status_code == 400
    assert "order_key" in response.text
    assert api_service.product(product_id)["stock"] == 10


async def test_order_beyond_stock_shows_the_conflict_and_takes_nothing(
    shop: httpx.AsyncClient, api_service: RunningApi
) -> None:
    product_id = api_service.create_product(product_name(), 500, 2)
    email = unique_email()
    await sign_up(shop, email, PASSWORD)
    page = await shop.get(f"/products/{product_id}")
    form = {"product_id": product_id, "qty": "5", **order_form(page.text)}
    refused = await shop.post("/orders", data=form)
    assert refused.status_code == 409
    assert 'class="error"' in refused.text
    assert 'value="5"' in refused.text
    assert order_key_of(refused.text) != form["order_key"]  # a changed order needs a new key
    assert api_service.product(product_id)["stock"] == 2
    assert api_service.orders_of(api_service.login(email, PASSWORD)) == []


async def test_bad_quantity_is_refused_before_reaching_the_api(
    shop: httpx.AsyncClient, api_service: RunningApi
) -> None:
    product_id = api_service.create_product(product_name(), 500, 20)
    await sign_up(shop, unique_email(), PASSWORD)
    form = order_form((await shop.get(f"/products/{product_id}")).text)
    for qty in ("0", "-1", "abc", "100", "1.5"):
        page = await shop.post("/orders", data={"product_id": product_id, "qty": qty, **form})
        assert page.status_code == 400, qty
        assert "Quantity must be a whole number from 1 to 99." in page.text
    assert api_service.product(product_id)["stock"] == 20


async def test_missing_form_field_gives_a_400_page(shop: httpx.AsyncClient) -> None:
    await sign_up(shop, unique_email(), PASSWORD)
    token = csrf_of((await shop.get("/")).text)
    page = await shop.post("/orders", data={"csrf_token": token, "qty": "1"})
    assert page.status_code == 400
    assert "product_id" in page.text


async def test_ordering_without_signing_in_goes_to_sign_in(
    shop: httpx.AsyncClient, api_service: RunningApi
) -> None:
    product_id = api_service.create_product(product_name(), 100, 1)
    token = csrf_of((await shop.get("/signin")).text)
    response = await shop.post(
        "/orders", data={"product_id": product_id, "qty": "1", "csrf_token": token}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Forders"
    assert api_service.product(product_id)["stock"] == 1


async def test_sign_out_forgets_the_session(shop: httpx.AsyncClient) -> None:
    await sign_up(shop, unique_email(), PASSWORD)
    token = csrf_of((await shop.get("/")).text)
    response = await shop.post("/signout", data={"csrf_token": token})
    assert response.status_code == 303
    assert "Sign in" in (await shop.get("/")).text
    assert (await shop.get("/orders")).status_code == 303


async def test_new_visitor_has_no_orders(shop: httpx.AsyncClient) -> None:
    await sign_up(shop, unique_email(), PASSWORD)
    page = await shop.get("/orders")
    assert page.status_code == 200
    assert "You have no orders yet." in page.text


async def test_unknown_page_is_a_404_page(shop: httpx.AsyncClient) -> None:
    page = await shop.get("/no/such/page")
    assert page.status_code == 404
    assert "There is no page here." in page.text


async def test_health_ready_and_check_api(shop: httpx.AsyncClient) -> None:
    assert (await shop.get("/health")).json() == {"status": "ok"}
    ready = await shop.get("/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    check = await shop.get("/check-api")
    assert check.status_code == 200
    assert check.json()["status"] == "ok"
