"""Health, readiness, metrics, error envelope, request ids, security headers and CORS."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.services.api_service.conftest import create_product


async def test_health_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_pings_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_ready_is_503_with_envelope_when_database_is_gone(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await app.state.database.client.close()
    response = await client.get("/ready", headers={"X-Request-ID": "ready-check-0001"})
    assert response.status_code == 503
    assert response.json() == {
        "error": {
            "code": "service_unavailable",
            "message": "the database is not reachable",
            "request_id": "ready-check-0001",
        }
    }


async def test_unknown_route_is_404_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    body = response.json()["error"]
    assert body["code"] == "not_found"
    assert body["message"] == "Not Found"
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_wrong_method_is_405_envelope(client: httpx.AsyncClient) -> None:
    response = await client.patch("/products")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


async def test_request_id_is_echoed_when_well_formed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "abc-123_DEF.456"})
    assert response.headers["X-Request-ID"] == "abc-123_DEF.456"


async def test_malformed_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    generated = response.headers["X-Request-ID"]
    assert generated != "bad id\twith spaces"
    assert len(generated) == 32
    assert all(c in "0123456789abcdef" for c in generated)


async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/health"), await client.get("/missing")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_metrics_use_route_templates_not_raw_paths(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    product = await create_product(client, admin_token)
    assert (await client.get(f"/products/{product['id']}")).status_code == 200
    assert (await client.get("/no/such/path")).status_code == 404
    text = (await client.get("/metrics")).text
    assert (
        'http_requests_total{method="GET",route="/products/{product_id}",status="200"} 1.0' in text
    )
    assert 'http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert product["id"] not in text
    assert "/no/such/path" not in text
    assert "http_request_duration_seconds_bucket" in text


async def test_cors_allows_listed_origin_only(client: httpx.AsyncClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = await client.options(
        "/orders", headers={"Origin": "https://shop.example.com", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    denied = await client.options(
        "/orders", headers={"Origin": "https://evil.example", **preflight}
    )
    assert denied.status_code == 400
    assert "Access-Control-Allow-Origin" not in denied.headers
    assert denied.json()["error"]["code"] == "cors_rejected"
    assert denied.json()["error"]["message"] == "Disallowed CORS origin"


async def test_openapi_schema_is_served_without_cdn_docs(client: httpx.AsyncClient) -> None:
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/docs")).status_code == 404
