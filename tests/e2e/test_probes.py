"""The probe programs the cluster tests exec in pods, run here against real local servers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from tests.conftest import free_port, loopback_http_server
from tests.e2e.kube import HTTP_PROBE, MONGO_PROBE, ProbeResult


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 403 if self.path == "/denied" else 200
        body = json.dumps({"path": self.path, "auth": self.headers.get("Authorization")}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    with loopback_http_server(_Handler) as url:
        yield url


def _probe(code: str, *args: str) -> ProbeResult:
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return ProbeResult.parse(result.stdout)


def test_http_probe_reports_status_body_and_sends_headers(http_url: str) -> None:
    result = _probe(HTTP_PROBE, f"{http_url}/orders/me", "GET", '{"Authorization": "Bearer t"}')
    assert result.status == 200
    assert json.loads(result.body) == {"path": "/orders/me", "auth": "Bearer t"}


def test_http_probe_reports_an_error_status_with_its_body(http_url: str) -> None:
    result = _probe(HTTP_PROBE, f"{http_url}/denied", "GET", "{}")
    assert (result.status, result.error) == (403, None)
    assert json.loads(result.body)["path"] == "/denied"


def test_http_probe_posts_a_json_body(http_url: str) -> None:
    body = '{"email": "a@example.com"}'
    result = _probe(
        HTTP_PROBE, f"{http_url}/auth/login", "POST", '{"Content-Type": "application/json"}', body
    )
    assert (result.status, result.body) == (201, body)


def test_http_probe_reports_a_refused_connection_as_an_error() -> None:
    result = _probe(HTTP_PROBE, f"http://127.0.0.1:{free_port()}/health", "GET", "{}")
    assert result.status is None
    assert result.error is not None
    assert "Connection refused" in result.error


def test_mongo_probe_pings_a_real_database(mongodb_uri: str) -> None:
    assert _probe(MONGO_PROBE, mongodb_uri) == ProbeResult(0, "pong", None)


def test_mongo_probe_reports_an_unreachable_database_as_an_error() -> None:
    result = _probe(MONGO_PROBE, f"mongodb://127.0.0.1:{free_port()}/")
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith("ServerSelectionTimeoutError")
