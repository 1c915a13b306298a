"""POST /auth/register and /auth/login: outcomes, bad input, one failure message, rate limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from api_service.models import User
from tests.services.api_service.conftest import USER_PASSWORD, register

GOOD = {"email": "Shopper@Example.com", "password": USER_PASSWORD}
StartApp = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]


async def test_register_creates_user_and_returns_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/register", json=GOOD)
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["email"] == "shopper@example.com"
    assert body["user"]["role"] == "user"
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == 15 * 60
    assert body["token"].count(".") == 2
    assert response.headers["Cache-Control"] == "no-store"
    stored = await User.find_one(User.email == "shopper@example.com")
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert USER_PASSWORD not in stored.password_hash


async def test_register_twice_is_409_case_insensitively(client: httpx.AsyncClient) -> None:
    assert (await client.post("/auth/register", json=GOOD)).status_code == 201
    again = await client.post(
        "/auth/register", json={"email": "shopper@EXAMPLE.com", "password": "another-pass"}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert await User.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": USER_PASSWORD},
        {"email": "a@example.com", "password": "short"},
        {"email": "a@example.com", "password": "x" * 129},
        {"email": "a@example.com"},
        {"email": 42, "password": USER_PASSWORD},
        {"email": "a@example.com", "password": 12345678},
        {"email": "a@example.com", "password": USER_PASSWORD, "role": "admin"},
        [],
    ],
    ids=["bad-email", "short", "long", "missing", "int-email", "int-password", "role", "array"],
)
async def test_register_rejects_bad_input_and_writes_nothing(
    client: httpx.AsyncClient, body: object
) -> None:
    response = await client.post("/auth/register", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert await User.count() == 0


async def test_validation_errors_do_not_echo_the_password(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/register", json={"email": "bad", "password": "secret-echo-check", "extra": 1}
    )
    assert response.status_code == 422
    assert "secret-echo-check" not in response.text
    locs = [detail["loc"] for detail in response.json()["error"]["details"]]
    assert ["body", "email"] in locs
    assert ["body", "extra"] in locs


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/register", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert await User.count() == 0


async def test_login_returns_token_for_right_password(client: httpx.AsyncClient) -> None:
    await register(client, "shopper@example.com")
    response = await client.post("/auth/login", json=GOOD)
    assert response.status_code == 200
    assert response.json()["user"]["email"] == "shopper@example.com"
    assert response.headers["Cache-Control"] == "no-store"
    me = await client.get(
        "/orders/me", headers={"Authorization": f"Bearer {response.json()['token']}"}
    )
    assert me.status_code == 200


async def test_login_gives_same_401_for_unknown_email_and_wrong_password(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "shopper@example.com")
    wrong = await client.post(
        "/auth/login", json={"email": "shopper@example.com", "password": "wrong-password"}
    )
    unknown = await client.post(
        "/auth/login", json={"email": "nobody@example.com", "password": USER_PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]
    assert wrong.json()["error"]["message"] == "wrong email or password"
    assert wrong.headers["WWW-Authenticate"] == "Bearer"


async def test_login_failures_for_one_account_make_that_client_wait(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "shopper@example.com")
    bad = {"email": "shopper@example.com", "password": "wrong-password"}
    statuses = [(await client.post("/auth/login", json=bad)).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    blocked = await client.post("/auth/login", json=GOOD)
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "too_many_requests"
    assert blocked.json()["error"]["message"] == "too many failed sign-in attempts; try again later"
    assert blocked.headers["Retry-After"] == "1"


async def test_login_failures_per_address_get_429_across_emails(
    client: httpx.AsyncClient,
) -> None:
    statuses = []
    for n in range(6):
        body = {"email": f"guess{n}@example.com", "password": "wrong-password"}
        statuses.append((await client.post("/auth/login", json=body)).status_code)
    assert statuses == [401, 401, 401, 401, 401, 429]


async def test_successful_login_clears_the_email_failures(client: httpx.AsyncClient) -> None:
    await register(client, "shopper@example.com")
    bad = {"email": "shopper@example.com", "password": "wrong-password"}
    for _ in range(2):
        assert (await client.post("/auth/login", json=bad)).status_code == 401
    assert (await client.post("/auth/login", json=GOOD)).status_code == 200
    for _ in range(2):
        assert (await client.post("/auth/login", json=bad)).status_code == 401
    assert (await client.post("/auth/login", json=GOOD)).status_code == 200


async def test_login_rehashes_hashes_of_the_previous_profile(client: httpx.AsyncClient) -> None:
    from argon2 import PasswordHasher  # noqa: PLC0415
    from argon2.profiles import RFC_9106_LOW_MEMORY  # noqa: PLC0415

    await register(client, "shopper@example.com")
    user = await User.find_one(User.email == "shopper@example.com")
    assert user is not None
    user.password_hash = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY).hash(USER_PASSWORD)
    await user.save()
    assert (await client.post("/auth/login", json=GOOD)).status_code == 200
    user = await User.find_one(User.email == "shopper@example.com")
    assert user is not None
    # The tests' hasher (conftest) stands for "the current parameters".
    assert user.password_hash.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert (await client.post("/auth/login", json=GOOD)).status_code == 200


async def test_admin_bootstrap_setting_creates_the_admin_once(
    start_app: StartApp, tmp_path: pytest.TempPathFactory
) -> None:
    from pathlib import Path  # noqa: PLC0415

    password_file = Path(str(tmp_path)) / "admin-password"
    password_file.write_text("bootstrap-password-123\n")
    _, client = await start_app(admin_email="Root@Example.com", admin_password_file=password_file)
    login = await client.post(
        "/auth/login", json={"email": "root@example.com", "password": "bootstrap-password-123"}
    )
    assert login.status_code == 200
    assert login.json()["user"]["role"] == "admin"
    assert await User.count() == 1
