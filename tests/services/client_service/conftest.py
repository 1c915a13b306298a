"""Fixtures: a running api-service process (on FerretDB), seeded as admin, and the storefront."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from client_service.config import Settings
from client_service.main import create_app
from tests.conftest import free_port, stop_process, wait_for_port

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
ORDER_KEY_INPUT = re.compile(r'name="order_key" value="([^"]+)"')
ADMIN_EMAIL = "admin@shop.example.com"


def csrf_of(html: str) -> str:
    """The CSRF token a page's form carries."""
    match = CSRF_INPUT.search(html)
    assert match, "the page has no CSRF token field"
    return match.group(1)


def order_key_of(html: str) -> str:
    """The Idempotency-Key an order form carries."""
    match = ORDER_KEY_INPUT.search(html)
    assert match, "the page has no order key field"
    return match.group(1)


def unique_email() -> str:
    """An email no other test uses."""
    return f"buyer-{uuid.uuid4().hex[:12]}@shop.example.com"


@dataclass
class RunningApi:
    """A started api-service: where it listens, an admin token, and helpers to seed it."""

    base_url: str
    admin_token: str
    log_path: Path

    def client(self) -> httpx.Client:
        """A plain HTTP client for the API (to seed and to check what the storefront did)."""
        return httpx.Client(base_url=self.base_url, timeout=10)

    def create_product(self, name: str, price: int, stock: int, description: str = "") -> str:
        """Create a product as admin and return its id."""
        with self.client() as api:
            response = api.post(
                "/products",
                json={"name": name, "description": description, "price": price, "stock": stock},
                headers={"Authorization": f"Bearer {self.admin_token}"},
            )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def product(self, product_id: str) -> dict[str, Any]:
        """A product as the API shows it now."""
        with self.client() as api:
            response = api.get(f"/products/{product_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def login(self, email: str, password: str) -> str:
        """A token for the given user, straight from the API."""
        with self.client() as api:
            response = api.post("/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def orders_of(self, token: str) -> list[dict[str, Any]]:
        """The orders the API holds for a token's user."""
        with self.client() as api:
            response = api.get("/orders/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        body: list[dict[str, Any]] = response.json()
        return body


def _write_ec_key(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _wait_healthy(base_url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"api-service exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"api-service /health did not answer 200 in 60 s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def api_service(mongodb_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """Start `python -m api_service` on a free port against its own database; bootstrap an admin."""
    workdir = tmp_path_factory.mktemp("api-service")
    key_file = workdir / "jwt-signing.pem"
    _write_ec_key(key_file)
    admin_password = secrets.token_urlsafe(24)
    password_file = workdir / "admin-password"
    password_file.write_text(admin_password)
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DATABASE": f"client_tests_{uuid.uuid4().hex[:10]}",
        "JWT_PRIVATE_KEY_FILE": str(key_file),
        "ADMIN_EMAIL": ADMIN_EMAIL,
        "ADMIN_PASSWORD_FILE": str(password_file),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        # Several tests sign in with a wrong password on purpose, and many register, all from
        # 127.0.0.1 (the storefront forwards the visitor's address, the same for every test).
        "LOGIN_CLIENT_FAILURES_BEFORE_BACKOFF": "1000",
        "REGISTER_MAX_PER_CLIENT": "1000",
    }
    log_path = workdir / "api-service.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api_service"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, proc, "api-service", timeout=60)
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(base_url, proc, log_path)
        with httpx.Client(base_url=base_url, timeout=10) as api:
            response = api.post(
                "/auth/login", json={"email": ADMIN_EMAIL, "password": admin_password}
            )
        assert response.status_code == 200, f"admin login failed: {response.text}"
        yield RunningApi(base_url, str(response.json()["token"]), log_path)
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def session_secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly generated session signing secret in a file, as a mounted secret would be."""
    path = tmp_path_factory.mktemp("secrets") / "session-secret"
    path.write_text(secrets.token_urlsafe(48))
    return path


def storefront_settings(api_url: str, secret_file: Path, **overrides: Any) -> Settings:
    """Settings for an in-process storefront (plain-HTTP cookies, no retry back-off)."""
    values: dict[str, Any] = {
        "api_base_url": api_url,
        "session_secret_file": secret_file,
        "cookie_secure": False,
        "api_retry_backoff_seconds": 0,
        "api_timeout_seconds": 10,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
async def storefront_app(
    api_service: RunningApi, session_secret_file: Path
) -> AsyncIterator[FastAPI]:
    """The storefront app, inside its lifespan, talking to the running api-service."""
    app = create_app(storefront_settings(api_service.base_url, session_secret_file))
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def shop(storefront_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """One visitor: an HTTP client with its own cookie jar, driving the storefront in-process."""
    transport = httpx.ASGITransport(app=storefront_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def sign_up(shop: httpx.AsyncClient, email: str, password: str) -> None:
    """Register through the storefront's form (which signs the visitor in)."""
    page = await shop.get("/register")
    response = await shop.post(
        "/register",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 303, response.text


@dataclass
class RunningStorefront:
    """A `python -m client_service` process: its URL, port and log file."""

    base_url: str
    port: int
    log_path: Path


@pytest.fixture(scope="session")
def storefront_process(
    api_service: RunningApi, session_secret_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStorefront]:
    """The storefront as it runs in its image: uvicorn in its own process, on a free port."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "API_BASE_URL": api_service.base_url,
        "SESSION_SECRET_FILE": str(session_secret_file),
        "COOKIE_SECURE": "false",  # plain HTTP on 127.0.0.1
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
    }
    log_path = tmp_path_factory.mktemp("client-service") / "client-service.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "client_service"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, proc, "client-service", timeout=60)
        yield RunningStorefront(f"http://127.0.0.1:{port}", port, log_path)
    finally:
        stop_process(proc)
