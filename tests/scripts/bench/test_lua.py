"""The wrk scripts send what the API expects: run by wrk against a loopback recorder."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import pytest

from microshop_ci.bench.run import ENDPOINTS
from tests.conftest import loopback_http_server

SCRIPTS = {endpoint: lua for endpoint, _, lua in ENDPOINTS}
IDS = ["65a000000000000000000001", "65a000000000000000000002"]


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str, dict[str, str], bytes]]] = []

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.append((self.command, self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer  # noqa: N815 - BaseHTTPRequestHandler's names

    def log_message(self, format: str, *args: object) -> None:
        del format, args


def _run(endpoint: str) -> list[tuple[str, str, dict[str, str], bytes]]:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: run scripts/setup")
    _Recorder.seen = []
    env = {
        **os.environ,
        "BENCH_PRODUCTS": ",".join(IDS),
        "BENCH_EMAIL": "shopper@bench.example.com",
        "BENCH_PASSWORD": "shopper-password",
        "BENCH_TOKEN": "token",
    }
    with loopback_http_server(_Recorder) as url:
        args = ["wrk", "-t2", "-c2", "-d1s", "-s", str(SCRIPTS[endpoint]), url + "/"]
        subprocess.run(args, check=True, capture_output=True, env=env, timeout=30)
    assert _Recorder.seen
    return list(_Recorder.seen)


def test_product_script_gets_seeded_products_only() -> None:
    seen = _run("GET /products/{id}")
    assert {(method, body) for method, _, _, body in seen} == {("GET", b"")}
    assert {path for _, path, _, _ in seen} <= {f"/products/{i}" for i in IDS}


def test_login_script_signs_the_shopper_in_from_a_new_address_each_time() -> None:
    seen = _run("POST /auth/login")
    assert {(method, path) for method, path, _, _ in seen} == {("POST", "/auth/login")}
    bodies = {json.loads(body)["email"] + " " + json.loads(body)["password"] for *_, body in seen}
    assert bodies == {"shopper@bench.example.com shopper-password"}
    assert {headers["Content-Type"] for _, _, headers, _ in seen} == {"application/json"}
    clients = [headers["X-Forwarded-For"] for _, _, headers, _ in seen]
    assert all(re.fullmatch(r"10\.[12]\.[0-9]{1,3}\.[0-9]{1,3}", c) for c in clients), clients
    assert len(set(clients)) == len(clients)
