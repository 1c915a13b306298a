"""CSRF, cookie flags, security headers, request ids, logs, and the API being down (real API)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from client_service.main import create_app
from client_service.middleware import CONTENT_SECURITY_POLICY
from tests.conftest import free_port
from tests.services.client_service.conftest import (
    RunningApi,
    csrf_of,
    sign_up,
    storefront_settings,
    unique_email,
)

PASSWORD = "correct horse battery"


async def _order_page(shop: httpx.AsyncClient, api_service: RunningApi) -> tuple[str, str]:
    product_id = api_service.create_product("CSRF target", 100, 5)
    email = unique_email()
    await sign_up(shop, email, PASSWORD)
    return product_id, email


@pytest.mark.parametrize("token", [None, "", "forged-token-value"])
async def test_order_without_the_session_csrf_token_is_refused(
    shop: httpx.AsyncClient, api_service: RunningApi, token: str | None
) -> None:
    product_id, email = await _order_page(shop, api_service)
    data = {"product_id": product_id, "qty": "1"}
    if token is not None:
        data["csrf_token"] = token
    response = await shop.post("/orders", data=data)
    assert response.status_code == 403
    assert "This form has expired" in response.text
    assert api_service.product(product_id)["stock"] == 5
    assert api_service.orders_of(api_service.login(email, PASSWORD)) == []


async def test_another_visitors_csrf_token_is_refused(
    shop: httpx.AsyncClient, storefront_app: FastAPI, api_service: RunningApi
) -> None:
    product_id, email = await _order_page(shop, api_service)
    transport = httpx.ASGITransport(app=storefront_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        foreign = csrf_of((await other.get("/signin")).text)
    response = await shop.post(
        "/orders", data={"product_id": product_id, "qty": "1", "csrf_token": foreign}
    )
    assert response.status_code == 403
    assert api_service.orders_of(api_service.login(email, PASSWORD)) == []


async def test_sign_in_without_csrf_token_is_refused(shop: httpx.AsyncClient) -> None:
    response = await shop.post("/signin", data={"email": unique_email(), "password": PASSWORD})
    assert response.status_code == 403
    assert "set-cookie" not in response.headers or "Sign out" not in response.text


async def test_sign_in_rotates_the_csrf_token(
    shop: httpx.AsyncClient, api_service: RunningApi
) -> None:
    email = unique_email()
    with api_service.client() as api:
        api.post("/auth/register", json={"email": email, "password": PASSWORD})
    before = csrf_of((await shop.get("/signin")).text)
    await shop.post("/signin", data={"email": email, "password": PASSWORD, "csrf_token": before})
    after = csrf_of((await shop.get("/")).text)
    assert after != before
    refused = await shop.post("/signout", data={"csrf_token": before})
    assert refused.status_code == 403


async def test_local_session_cookie_is_httponly_and_samesite_strict(
    shop: httpx.AsyncClient,
) -> None:
    response = await shop.get("/signin")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("session=")
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/" in flags
    assert "secure" not in flags


async def test_session_cookie_is_secure_with_host_prefix_by_default(
    api_service: RunningApi, session_secret_file: Path
) -> None:
    app = create_app(
        storefront_settings(api_service.base_url, session_secret_file, cookie_secure=True)
    )
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as shop:
            form = await shop.get("/register")
            cookie = form.headers["set-cookie"]
            assert (
                form.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
            )
            flags = [part.strip().lower() for part in cookie.split(";")]
            assert cookie.startswith("__Host-session=")
            assert {"httponly", "samesite=strict", "secure", "path=/"} <= set(flags)
            assert not any(flag.startswith("domain=") for flag in flags)
            # The cookie works over HTTPS: register and see the signed-in page.
            email = unique_email()
            await sign_up(shop, email, PASSWORD)
            assert email in (await shop.get("/")).text


async def test_session_cookie_holds_no_password_and_rejects_tampering(
    shop: httpx.AsyncClient,
) -> None:
    email = unique_email()
    await sign_up(shop, email, PASSWORD)
    value = shop.cookies["session"]
    payload = base64.b64decode(value.split(".")[0] + "==")
    assert PASSWORD.encode() not in payload
    assert json.loads(payload)["email"] == email
    forged = base64.b64encode(json.dumps({"email": "x@y.z", "token": "t"}).encode()).decode()
    shop.cookies.set("session", forged + "." + ".".join(value.split(".")[1:]))
    page = await shop.get("/")
    assert "Sign out" not in page.text
    assert (await shop.get("/orders")).status_code == 303


async def test_pages_carry_security_headers(shop: httpx.AsyncClient) -> None:
    for path in ("/", "/signin", "/no-such-page", "/health"):
        response = await shop.get(path)
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in response.headers  # plain-HTTP local run
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY  # default-src 'none' forbids scripts
    css = await shop.get("/static/style.css")
    assert css.status_code == 200
    assert css.headers["x-content-type-options"] == "nosniff"


async def test_request_id_is_kept_when_well_formed_and_replaced_otherwise(
    shop: httpx.AsyncClient,
) -> None:
    kept = await shop.get("/health", headers={"X-Request-ID": "trace-0123456789"})
    assert kept.headers["x-request-id"] == "trace-0123456789"
    replaced = await shop.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert len(replaced.headers["x-request-id"]) == 32


async def test_logs_never_hold_passwords_tokens_or_cookies(
    shop: httpx.AsyncClient, api_service: RunningApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    email = unique_email()
    await sign_up(shop, email, PASSWORD)
    form = await shop.get("/signin")
    await shop.post(
        "/signin", data={"email": email, "password": "wrong pass 123", "csrf_token": "x"}
    )
    await shop.post(
        "/signin",
        data={"email": email, "password": "wrong pass 456", "csrf_token": csrf_of(form.text)},
    )
    token = api_service.login(email, PASSWORD)
    cookie = shop.cookies["session"]
    logged = "\n".join(json.dumps(record.__dict__, default=str) for record in caplog.records)
    assert any(record.name == "client_service.access" for record in caplog.records)
    for secret in (PASSWORD, "wrong pass 123", "wrong pass 456", token.split(".")[2], cookie):
        assert secret not in logged


@pytest.fixture(scope="module")
async def shop_without_api(session_secret_file: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A storefront whose API address has nothing listening (the API is down)."""
    settings = storefront_settings(
        f"http://127.0.0.1:{free_port()}", session_secret_file, api_retries=1
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.mark.parametrize("path", ["/", "/products/" + "a" * 24])
async def test_api_down_gives_a_clear_503_page(
    shop_without_api: httpx.AsyncClient, path: str
) -> None:
    page = await shop_without_api.get(path)
    assert page.status_code == 503
    assert "The shop is temporarily unavailable" in page.text
    assert "Traceback" not in page.text
    assert "ConnectError" not in page.text
    assert page.headers["x-frame-options"] == "DENY"


async def test_api_down_on_sign_in_gives_the_error_page(
    shop_without_api: httpx.AsyncClient,
) -> None:
    token = csrf_of((await shop_without_api.get("/signin")).text)
    page = await shop_without_api.post(
        "/signin", data={"email": unique_email(), "password": PASSWORD, "csrf_token": token}
    )
    assert page.status_code == 503
    assert "Traceback" not in page.text


async def test_api_down_makes_ready_503_and_check_api_502(
    shop_without_api: httpx.AsyncClient,
) -> None:
    assert (await shop_without_api.get("/health")).status_code == 200
    ready = await shop_without_api.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    check = await shop_without_api.get("/check-api")
    assert check.status_code == 502
    assert check.json()["error"]["code"] == "api_unavailable"
    assert "cannot be reached" in check.json()["error"]["message"]
