"""Fixtures for api-service: a signing key made at test time, settings, the app and clients."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandListener

from api_service.config import Settings
from api_service.main import create_app
from api_service.models import Product
from api_service.services import passwords
from api_service.services.auth import ensure_admin

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-for-tests"
USER_PASSWORD = "user-password-1"


def write_ec_key(path: Path) -> Path:
    """Write a fresh EC P-256 private key (PKCS8 PEM) to path."""
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture(scope="session")
def signing_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The service's JWT key for this test session (never committed)."""
    return write_ec_key(tmp_path_factory.mktemp("keys") / "jwt.pem")


@pytest.fixture
def make_settings(mongodb_uri: str, signing_key_file: Path) -> Callable[..., Settings]:
    """Settings on a database of its own (dropped after the test by the client fixture)."""
    database = f"t_{uuid.uuid4().hex[:16]}"

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "mongodb_uri": mongodb_uri,
            "mongodb_database": database,
            "jwt_private_key_file": signing_key_file,
            "cors_allow_origins": ["https://shop.example.com"],
            "login_max_failures_per_email": 3,
            "login_max_failures_per_ip": 5,
            "login_failure_window_seconds": 60,
        }
        values.update(overrides)
        return Settings(**values)

    return build


async def drop_database(settings: Settings) -> None:
    """Remove a test's database."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_uri.get_secret_value()
    )
    try:
        await client.drop_database(settings.mongodb_database)
    finally:
        await client.close()


@pytest.fixture
async def start_app(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]]:
    """Start apps (inside their lifespan) with settings overrides; everything is closed after."""
    opened: list[tuple[LifespanManager, httpx.AsyncClient, Settings]] = []

    async def start(
        command_listeners: Sequence[CommandListener] = (), **overrides: Any
    ) -> tuple[FastAPI, httpx.AsyncClient]:
        settings = make_settings(**overrides)
        app = create_app(settings, command_listeners)
        # Generous bounds: on a loaded machine a shut-down (sweeper, client) can pass 5 s.
        manager = LifespanManager(app, startup_timeout=30, shutdown_timeout=30)
        await manager.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://api.test"
        )
        opened.append((manager, client, settings))
        return app, client

    yield start
    for manager, client, settings in reversed(opened):
        await client.aclose()
        await manager.__aexit__(None, None, None)
        await drop_database(settings)


@pytest.fixture
async def app_client(
    start_app: Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]],
) -> tuple[FastAPI, httpx.AsyncClient]:
    """The app with default test settings and a client for it."""
    return await start_app()


@pytest.fixture
def client(app_client: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    """An HTTP client for the app, on a clean database."""
    return app_client[1]


@pytest.fixture
def app(app_client: tuple[FastAPI, httpx.AsyncClient]) -> FastAPI:
    """The running app."""
    return app_client[0]


def bearer(token: str) -> dict[str, str]:
    """An Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


def ordering(token: str, key: str | None = None) -> dict[str, str]:
    """Headers for POST /orders: the token and an Idempotency-Key (a new one unless given)."""
    return {**bearer(token), "Idempotency-Key": key or str(uuid.uuid4())}


async def register(client: httpx.AsyncClient, email: str = "shopper@example.com") -> str:
    """Register a user and return its token."""
    response = await client.post("/auth/register", json={"email": email, "password": USER_PASSWORD})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


@pytest.fixture
async def user_token(client: httpx.AsyncClient) -> str:
    """A signed-in shopper's token."""
    return await register(client)


@pytest.fixture
async def admin_token(client: httpx.AsyncClient) -> str:
    """A signed-in admin's token (admin made the way the bootstrap makes it)."""
    assert await ensure_admin(ADMIN_EMAIL, ADMIN_PASSWORD) == "created"
    response = await client.post(
        "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


async def create_product(
    client: httpx.AsyncClient,
    admin_token: str,
    *,
    price: int = 1250,
    stock: int = 10,
    name: str = "Mug",
) -> dict[str, Any]:
    """Create a product as admin and return its JSON."""
    response = await client.post(
        "/products",
        json={"name": name, "description": "A mug", "price": price, "stock": stock},
        headers=bearer(admin_token),
    )
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


async def stock_of(product_id: str) -> int:
    """A product's stock as stored."""
    product = await Product.get(product_id)
    assert product is not None
    return product.stock


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2id with small parameters, so tests that register users stay fast.

    test_passwords.py checks the production parameters separately.
    """
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """create_app() reconfigures the root logger; put it back so other tests are unaffected."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    access = logging.getLogger("uvicorn.access").disabled
    pymongo_level = logging.getLogger("pymongo").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = access
    logging.getLogger("pymongo").setLevel(pymongo_level)
