"""The visitor's address reaches the API: sent by the storefront, believed only from proxies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from client_service.config import ConfigError, load_settings
from client_service.main import create_app
from tests.services.client_service.conftest import csrf_of, storefront_settings

USER = {"id": "u" * 24, "email": "visitor@shop.example.com", "role": "user"}


@asynccontextmanager
async def storefront(
    secret_file: Path, peer: str, proxies: list[str] | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, list[str | None]]]:
    """A storefront a visitor reaches from `peer`; yields its client and the X-Forwarded-For
    of every call it made to a fake API."""
    forwarded: list[str | None] = []

    def api(request: httpx.Request) -> httpx.Response:
        forwarded.append(request.headers.get("X-Forwarded-For"))
        if request.url.path == "/auth/login":
            return httpx.Response(200, json={"token": "tok-123", "user": USER})
        return httpx.Response(200, json=[])

    overrides = {"forwarded_allow_ips": proxies} if proxies is not None else {}
    settings = storefront_settings("http://api.test", secret_file, api_retries=0, **overrides)
    app = create_app(settings, transport=httpx.MockTransport(api))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=(peer, 50123))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, forwarded


async def sign_in(shop: httpx.AsyncClient, headers: dict[str, str] | None = None) -> None:
    token = csrf_of((await shop.get("/signin", headers=headers)).text)
    response = await shop.post(
        "/signin",
        data={"email": USER["email"], "password": "whatever1", "csrf_token": token},
        headers=headers,
    )
    assert response.status_code == 303


async def test_the_visitors_address_is_sent_with_every_api_call(session_secret_file: Path) -> None:
    async with storefront(session_secret_file, "198.51.100.23") as (shop, forwarded):
        assert (await shop.get("/")).status_code == 200
        await sign_in(shop)
    assert forwarded == ["198.51.100.23", "198.51.100.23"]


async def test_a_trusted_proxy_names_the_visitor(session_secret_file: Path) -> None:
    async with storefront(session_secret_file, "10.1.2.3", ["10.0.0.0/8"]) as (shop, forwarded):
        # The proxy appended the visitor's address after whatever the visitor claimed.
        await sign_in(shop, {"X-Forwarded-For": "192.0.2.99, 203.0.113.9"})
    assert forwarded == ["203.0.113.9"]


async def test_a_forwarded_address_from_anyone_else_is_ignored(session_secret_file: Path) -> None:
    async with storefront(session_secret_file, "192.0.2.1", ["10.0.0.0/8"]) as (shop, forwarded):
        await sign_in(shop, {"X-Forwarded-For": "203.0.113.9"})
    assert forwarded == ["192.0.2.1"]


def test_trusting_every_proxy_is_refused(
    monkeypatch: pytest.MonkeyPatch, session_secret_file: Path
) -> None:
    monkeypatch.setenv("API_BASE_URL", "http://api-service:8000")
    monkeypatch.setenv("SESSION_SECRET_FILE", str(session_secret_file))
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8, *")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value) == (
        "invalid configuration: FORWARDED_ALLOW_IPS: '*' would let any visitor choose its"
        " address; list proxies"
    )
