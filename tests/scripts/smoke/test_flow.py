"""The smoke scenario's API half against a stand-in API on loopback: seed, stock, readiness."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from microshop_ci.core.jsonhttp import JsonHandler
from microshop_ci.smoke import flow
from microshop_ci.smoke.stack import SmokeError
from tests.conftest import free_port, loopback_http_server


class FakeApi(JsonHandler, BaseHTTPRequestHandler):
    """Answers what api-service answers to the smoke run; `replies` sets status per path."""

    replies: ClassVar[dict[str, tuple[int, dict[str, Any]]]] = {}
    seen: ClassVar[list[tuple[str, str, dict[str, Any] | None, str | None]]] = []

    def _answer(self, body: dict[str, Any] | None) -> None:
        self.seen.append((self.command, self.path, body, self.headers.get("Authorization")))
        status, payload = self.replies[f"{self.command} {self.path}"]
        self._send(status, payload)

    def do_GET(self) -> None:
        self._answer(None)

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self._answer(json.loads(self.rfile.read(length)))


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeApi]]:
    """The stand-in API, with flow's API_URL pointing at it."""
    FakeApi.replies = {
        "POST /auth/login": (200, {"token": "tok-1"}),
        "POST /products": (201, {"id": "p-42"}),
        "GET /products/p-42": (200, {"id": "p-42", "stock": 3}),
        "GET /ready": (200, {"status": "ready"}),
    }
    FakeApi.seen = []
    with loopback_http_server(FakeApi) as url:
        monkeypatch.setattr(flow, "API_URL", url)
        yield FakeApi


def test_the_admin_signs_in_and_creates_the_product_to_order(api: type[FakeApi]) -> None:
    assert flow.seed_product("admin@example.com", "pw") == "p-42"
    assert api.seen == [
        ("POST", "/auth/login", {"email": "admin@example.com", "password": "pw"}, None),
        (
            "POST",
            "/products",
            {
                "name": "Smoke test kettle",
                "description": "Placed by microshop smoke.",
                "price": 2599,
                "stock": 5,
            },
            "Bearer tok-1",
        ),
    ]


def test_a_refused_admin_login_names_the_status_and_body(api: type[FakeApi]) -> None:
    api.replies["POST /auth/login"] = (401, {"error": "bad credentials"})
    with pytest.raises(SmokeError) as caught:
        flow.seed_product("admin@example.com", "wrong")
    assert str(caught.value) == 'admin login answered 401: {"error": "bad credentials"}'
    assert len(api.seen) == 1


def test_a_refused_product_names_the_status_and_body(api: type[FakeApi]) -> None:
    api.replies["POST /products"] = (403, {"error": "forbidden"})
    with pytest.raises(SmokeError) as caught:
        flow.seed_product("admin@example.com", "pw")
    assert str(caught.value) == 'creating a product answered 403: {"error": "forbidden"}'


def test_stock_is_read_from_the_api(api: type[FakeApi]) -> None:
    assert flow.stock_of("p-42") == 3


def test_the_api_is_ready_when_it_answers_200(api: type[FakeApi]) -> None:
    flow.wait_for_api(timeout=5)
    assert api.seen == [("GET", "/ready", None, None)]


def test_waiting_for_an_api_that_never_answers_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setattr(flow, "API_URL", url)
    with pytest.raises(SmokeError) as caught:
        flow.wait_for_api(timeout=1)
    assert str(caught.value) == f"api-service at {url} was not ready within 1 s"


def test_ordering_without_a_browser_names_the_missing_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flow, "chromium", lambda: tmp_path / "chromium")
    with pytest.raises(SmokeError) as caught:
        flow.order_in_browser("p-42", tmp_path / "shot.png")
    assert (
        str(caught.value) == f"{tmp_path}/chromium is missing: scripts/setup installs or finds it"
    )
