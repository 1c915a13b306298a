"""Page behaviour for API answers hard to provoke from a healthy API, over httpx.MockTransport."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from client_service.context import request_id_var
from client_service.logs import configure_logging
from client_service.main import create_app
from tests.services.client_service.conftest import csrf_of, order_key_of, storefront_settings

PRODUCT_ID = "b" * 24
USER = {"id": "u" * 24, "email": "visitor@shop.example.com", "role": "user"}

Route = Callable[[httpx.Request], httpx.Response]


def product(number: int) -> dict[str, object]:
    return {"id": f"{number:024x}", "name": f"Thing {number}", "price": 100 + number, "stock": 1}


class FakeApi:
    """Answers per (method, path); anything unlisted is a 404 envelope."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {
            ("POST", "/auth/login"): lambda _: httpx.Response(
                200, json={"token": "tok-123", "user": USER}
            ),
            ("GET", f"/products/{PRODUCT_ID}"): lambda _: httpx.Response(
                200, json={**product(11), "id": PRODUCT_ID}
            ),
        }
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            body = {"error": {"code": "not_found", "message": "no such thing"}}
            return httpx.Response(404, json=body)
        return route(request)


@pytest.fixture
async def fake_shop(
    session_secret_file: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeApi]]:
    fake = FakeApi()
    settings = storefront_settings("http://api.test", session_secret_file, api_retries=0)
    app = create_app(settings, transport=httpx.MockTransport(fake))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, fake


async def sign_in(shop: httpx.AsyncClient) -> None:
    token = csrf_of((await shop.get("/signin")).text)
    response = await shop.post(
        "/signin", data={"email": USER["email"], "password": "whatever1", "csrf_token": token}
    )
    assert response.status_code == 303


async def test_api_server_error_gives_a_502_page(
    fake_shop: tuple[httpx.AsyncClient, FakeApi],
) -> None:
    shop, fake = fake_shop
    fake.routes["GET", "/products"] = lambda _: httpx.Response(500, text="boom")
    page = await shop.get("/")
    assert page.status_code == 502
    assert "The shop is having trouble" in page.text
    assert "boom" not in page.text


async def test_unreadable_api_answer_gives_a_502_page(
    fake_shop: tuple[httpx.AsyncClient, FakeApi],
) -> None:
    shop, fake = fake_shop
    fake.routes["GET", "/products"] = lambda _: httpx.Response(200, json={"not": "a list"})
    assert (await shop.get("/")).status_code == 502


async def test_unexpected_failure_gives_a_plain_500_page_with_headers(
    fake_shop: tuple[httpx.AsyncClient, FakeApi],
) -> None:
    shop, fake = fake_shop

    def explode(_: httpx.Request) -> httpx.Response:
        raise RuntimeError("secret internal detail")

    fake.routes["GET", "/products"] = explode
    page = await shop.get("/")
    assert page.status_code == 500
    assert "Something went wrong" in page.text
    assert "secret internal detail" not in page.text
    assert "Traceback" not in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


async def test_catalogue_pages_through_limit_and_offset(
    fake_shop: tuple[httpx.AsyncClient, FakeApi],
) -> None:
    shop, fake = fake_shop
    fake.routes["GET", "/products"] = lambda request: httpx.Response(
        200,
        json=[product(n) for n in range(int(request.url.params["offset"]), 20)][
            : int(request.url.params["limit"])
        ],
    )
    first = await shop.get("/")
    assert first.text.count('class="card product"') == 12
    assert 'href="/?page=2"' in first.text
    assert "Previous" not in first.text
    second = await shop.get("/?page=2")
    assert second.text.count('class="card product"') == 8
    assert 'href="/?page=1"' in second.text
    assert 'href="/?page=3"' not in second.text
    assert dict(fake.seen[-1].url.params) == {"limit": "13", "offset": "12"}
    assert (await shop.get("/?page=0")).status_code == 400


async def test_expired_token_on_my_orders_signs_the_visitor_out(
    fake_shop: tuple[httpx.AsyncClient, FakeApi],
) -> None:
    shop, fake = fake_shop
    await sign_in(shop)
    fake.routes["GET", "/orders/me"] = lambda _: httpx.Response(
        401, json={"error": {"code": "unauthorized", "message": "token expired"}}
    )
    response = await shop.get("/orders")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Forders"
    page = await shop.get("/signin?next=/orders")
    assert "Your session has ended. Please sign in again." in page.text
    assert "Sign out" not in page.text


async def test_expired_token_when_ordering_returns_to_the_product_after_sign_in(
    fake_shop: tuple[httpx.AsyncClient, FakeApi],
) -> None:
    shop, fake = fake_shop
    await sign_in(shop)
    fake.routes["POST", "/orders"] = lambda _: httpx.Response(
        401, json={"error": {"code": "unauthorized", "message": "token expired"}}
    )
    page = (await shop.get(f"/products/{PRODUCT_ID}")).text
    form = {"csrf_token": csrf_of(page), "order_key": order_key_of(page)}
    response = await shop.post("/orders", data={"product_id": PRODUCT_ID, "qty": "1", **form})
    assert response.status_code == 303
    assert response.headers["location"] == f"/signin?next=%2Fproducts%2F{PRODUCT_ID}"
    assert fake.seen[-1].headers["authorization"] == "Bearer tok-123"


@pytest.mark.parametrize(
    ("status", "code"),
    [(503, "service_unavailable"), (409, "order_in_progress")],
    ids=["unavailable", "in-progress"],
)
async def test_an_order_of_unknown_outcome_comes_back_with_the_same_key(
    fake_shop: tuple[httpx.AsyncClient, FakeApi], status: int, code: str
) -> None:
    """Placing it again from that page sends the same key: the API never orders twice."""
    shop, fake = fake_shop
    await sign_in(shop)
    fake.routes["POST", "/orders"] = lambda _: httpx.Response(
        status, json={"error": {"code": code, "message": "not yet"}}
    )
    page = (await shop.get(f"/products/{PRODUCT_ID}")).text
    form = {"csrf_token": csrf_of(page), "order_key": order_key_of(page)}
    response = await shop.post("/orders", data={"product_id": PRODUCT_ID, "qty": "2", **form})
    assert response.status_code == status
    assert "We could not confirm your order yet" in response.text
    assert order_key_of(response.text) == form["order_key"]
    assert fake.seen[-1].headers["Idempotency-Key"] == form["order_key"]


async def test_orders_show_lines_totals_dates_and_status(
    fake_shop: tuple[httpx.AsyncClient, FakeApi],
) -> None:
    shop, fake = fake_shop
    await sign_in(shop)
    order = {
        "id": "o" * 24,
        "items": [{"productId": PRODUCT_ID, "name": "Lamp", "qty": 2, "unitPrice": 1050}],
        "total": 2100,
        "status": "placed",
        "createdAt": "2026-11-21T05:00:00Z",
    }
    fake.routes["GET", "/orders/me"] = lambda _: httpx.Response(200, json=[order])
    page = await shop.get("/orders")
    assert page.status_code == 200
    for text in ("Lamp", "$10.50", "$21.00", "placed", "2026-11-21 05:00 UTC"):
        assert text in page.text


async def test_rate_limited_sign_in_shows_the_api_message(
    fake_shop: tuple[httpx.AsyncClient, FakeApi],
) -> None:
    shop, fake = fake_shop
    fake.routes["POST", "/auth/login"] = lambda _: httpx.Response(
        429, json={"error": {"code": "too_many_requests", "message": "too many failed logins"}}
    )
    token = csrf_of((await shop.get("/signin")).text)
    page = await shop.post(
        "/signin", data={"email": "a@shop.example.com", "password": "x" * 9, "csrf_token": token}
    )
    assert page.status_code == 429
    assert "too many failed logins" in page.text


async def test_other_api_refusals_show_their_message(
    fake_shop: tuple[httpx.AsyncClient, FakeApi],
) -> None:
    shop, fake = fake_shop
    fake.routes["GET", f"/products/{PRODUCT_ID}"] = lambda _: httpx.Response(
        403, json={"error": {"code": "forbidden", "message": "not for you"}}
    )
    page = await shop.get(f"/products/{PRODUCT_ID}")
    assert page.status_code == 403
    assert "not for you" in page.text


async def test_wrong_method_gives_a_405_page(
    fake_shop: tuple[httpx.AsyncClient, FakeApi],
) -> None:
    shop, _ = fake_shop
    page = await shop.get("/signout")
    assert page.status_code == 405


async def test_request_id_reaches_the_api(fake_shop: tuple[httpx.AsyncClient, FakeApi]) -> None:
    shop, fake = fake_shop
    await shop.get(f"/products/{PRODUCT_ID}", headers={"X-Request-ID": "trace-abcdef0123"})
    assert fake.seen[-1].headers["x-request-id"] == "trace-abcdef0123"


def test_logs_are_json_lines_with_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("info")
        reset = request_id_var.set("trace-logs-0001")
        try:
            logging.getLogger("client_service.test").info("hello", extra={"path": "/x"})
        finally:
            request_id_var.reset(reset)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["message"] == "hello"
    assert line["request_id"] == "trace-logs-0001"
    assert line["level"] == "INFO"
    assert line["logger"] == "client_service.test"
    assert line["path"] == "/x"
