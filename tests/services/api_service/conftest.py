"""Fixtures for api-service: a signing key made at test time, settings, the app and clients."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from argon2 import PasswordHasher
from asgi_lifespan import LifespanManager
from beanie import PydanticObjectId
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from pymongo.monitoring import CommandListener

from api_service.config import Settings
from api_service.database import new_client, password
from api_service.main import create_app
from api_service.models import Product
from api_service.services import passwords
from api_service.services.auth import ensure_admin
from api_service.services.passwords import PasswordHashing

# Transactions need a MongoDB replica set; the URI names one with its replicaSet option
# (scripts/mongodb-replset prints such a URI). FerretDB, the local database, has none.
REPLICA_SET = "replicaSet=" in os.environ.get("MICROSHOP_TEST_MONGODB_URI", "")
needs_transactions = pytest.mark.skipif(
    not REPLICA_SET,
    reason="the transaction mode needs MICROSHOP_TEST_MONGODB_URI naming a MongoDB replica set"
    " (mongodb://HOST:PORT/?replicaSet=NAME); FerretDB has no transactions",
)
# The two ways of placing an order: the ledger (stored `reserving` first; the mode detected here,
# FerretDB's lease, or the conditional update on a replica set, where "auto" would choose the
# transaction) and the transaction. Parametrizes the app_client fixture (its STOCK_WRITES).
LEDGER = "conditional" if REPLICA_SET else "auto"
BOTH_PATHS = pytest.mark.parametrize(
    "app_client",
    [
        pytest.param(LEDGER, id="ledger"),
        pytest.param("transaction", id="transaction", marks=needs_transactions),
    ],
    indirect=True,
)

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
            "login_failures_before_backoff": 3,
            "login_client_failures_before_backoff": 5,
            "login_account_failures_before_backoff": 10,
            "login_backoff_max_seconds": 60,
            "login_account_backoff_max_seconds": 30,
            "login_failure_window_seconds": 60,
            "register_max_per_client": 20,
        }
        values.update(overrides)
        return Settings(**values)

    return build


async def drop_database(settings: Settings) -> None:
    """Remove a test's database."""
    client = new_client(settings, password(settings))
    try:
        await client.drop_database(settings.mongodb_database)
    finally:
        await client.close()


# What start_app yields: start an app with settings overrides, get it and its client.
Starter = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
async def start_app(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Starter]:
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
    request: pytest.FixtureRequest,
) -> tuple[FastAPI, httpx.AsyncClient]:
    """The app with default test settings (STOCK_WRITES from BOTH_PATHS) and a client for it."""
    return await start_app(stock_writes=getattr(request, "param", "auto"))


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


async def sell(client: httpx.AsyncClient, token: str, product_id: str, qty: int) -> httpx.Response:
    """Place an order of one line (with its own Idempotency-Key) and return the response."""
    return await client.post(
        "/orders",
        json={"items": [{"productId": product_id, "qty": qty}]},
        headers=ordering(token),
    )


def assert_error(
    response: httpx.Response, status: int, code: str, message: str, **extra: object
) -> None:
    """The response is exactly this error: status and the whole envelope."""
    assert response.status_code == status, response.text
    assert response.json()["error"] == {
        "code": code,
        "message": message,
        "request_id": response.headers["X-Request-ID"],
        **extra,
    }


async def adjust(
    client: httpx.AsyncClient, token: str, product_id: str, delta: object, **headers: str
) -> httpx.Response:
    """PATCH /products/{id}/stock with this delta."""
    return await client.patch(
        f"/products/{product_id}/stock", json={"delta": delta}, headers={**bearer(token), **headers}
    )


def admin(token: str, if_match: str) -> dict[str, str]:
    """An admin's headers for a write against the version an ETag names."""
    return {**bearer(token), "If-Match": if_match}


async def stored(product_id: str) -> dict[str, Any]:
    """A product's document exactly as the database holds it."""
    raw = await Product.get_pymongo_collection().find_one({"_id": PydanticObjectId(product_id)})
    assert raw is not None
    return dict(raw)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2id with small parameters, so tests that register users stay fast.

    test_passwords.py checks the production parameters separately.
    """
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


class GatedHasher(PasswordHasher):
    """A cheap real hasher whose hash and verify wait for a gate and note their thread."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.gate = threading.Event()
        self.threads: set[str] = set()

    def _pass_gate(self) -> None:
        self.threads.add(threading.current_thread().name)
        assert self.gate.wait(timeout=30), "the gate was never opened"

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._pass_gate()
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self._pass_gate()
        return super().verify(hash, password)


@pytest.fixture
def gated_hasher(monkeypatch: pytest.MonkeyPatch) -> Iterator[GatedHasher]:
    """Password hashing that waits until the test opens `gate` (opened at the end)."""
    hasher = GatedHasher()
    monkeypatch.setattr(passwords, "_hasher", hasher)
    yield hasher
    hasher.gate.set()


async def wait_until_admitted(pool: PasswordHashing, count: int) -> None:
    """Let the event loop run until `count` hashing calls are admitted (bounded)."""
    for _ in range(2000):
        if pool.admitted == count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{pool.admitted} hashing calls admitted, expected {count}")


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
