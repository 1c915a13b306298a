"""Body size limit (413 envelope by Content-Length or while streaming) and unhandled errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from api_service.models import Product, User
from tests.services.api_service.conftest import USER_PASSWORD, bearer


async def test_declared_oversized_body_is_413_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    body = {"email": "big@example.com", "password": USER_PASSWORD, "pad": "x" * 70_000}
    response = await client.post("/auth/register", json=body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert response.json()["error"]["message"] == "request body is larger than 65536 bytes"
    assert response.headers["X-Request-ID"]
    assert await User.count() == 0


async def test_streamed_oversized_body_is_413_and_writes_nothing(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'", "price": 1, "stock": 1}'

    response = await client.post(
        "/products",
        content=chunks(),
        headers={**bearer(admin_token), "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await Product.count() == 0


async def test_body_just_under_the_limit_is_parsed(client: httpx.AsyncClient) -> None:
    body = {"email": "ok@example.com", "password": USER_PASSWORD, "pad": "x" * 60_000}
    response = await client.post("/auth/register", json=body)
    assert response.status_code == 422  # reached validation: the extra field is refused
    assert response.json()["error"]["details"][0]["loc"] == ["body", "pad"]


async def test_unhandled_error_is_500_envelope_without_details(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def boom() -> None:
        raise RuntimeError("internal detail that must not leak")

    app.add_api_route("/boom", boom)
    response = await client.get("/boom", headers={"X-Request-ID": "boom-request-1"})
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "internal server error",
            "request_id": "boom-request-1",
        }
    }
    assert response.headers["X-Request-ID"] == "boom-request-1"
    assert "internal detail" not in response.text


async def test_every_answer_carries_each_security_header_once_and_a_routes_own_is_kept(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    from starlette.responses import Response  # noqa: PLC0415 - this test's own route

    async def own_headers() -> Response:
        headers = {"X-Frame-Options": "SAMEORIGIN", "Cache-Control": "max-age=60"}
        return Response(b"{}", headers={**headers, "X-Request-ID": "from-the-route"})

    app.add_api_route("/orders-probe", own_headers)
    response = await client.get("/orders-probe", headers={"X-Request-ID": "probe-request-1"})
    raw = [(name.decode().lower(), value.decode()) for name, value in response.headers.raw]
    names = [name for name, _ in raw]
    assert {name: names.count(name) for name in set(names)} == dict.fromkeys(names, 1)
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"  # the route's own, kept
    assert response.headers["Cache-Control"] == "no-store"  # replaced under /orders
    assert response.headers["X-Request-ID"] == "probe-request-1"  # replaced
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-site"
    assert response.headers["Content-Security-Policy"] == (
        "default-src 'none'; frame-ancestors 'none'"
    )
