"""Sign-in and registration limits over HTTP: per client, per account, trusted forwarding, 503."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from api_service.models import User
from tests.services.api_service.conftest import USER_PASSWORD, GatedHasher, wait_until_admitted

StartApp = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]
OWNER = "owner@example.com"
RIGHT = {"email": OWNER, "password": USER_PASSWORD}
WRONG = {"email": OWNER, "password": "not-the-password"}
ATTACKER, OWNER_PHONE, OWNER_LAPTOP = "203.0.113.10", "198.51.100.20", "198.51.100.21"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def from_client(address: str) -> dict[str, str]:
    """The header the storefront (a trusted peer, 127.0.0.1 in these tests) sends."""
    return {"X-Forwarded-For": address}


@asynccontextmanager
async def peer(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client connecting to the app from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


async def statuses(client: httpx.AsyncClient, body: dict[str, str], *addresses: str) -> list[int]:
    """Sign in once from each address in turn; the statuses."""
    return [
        (await client.post("/auth/login", json=body, headers=from_client(a))).status_code
        for a in addresses
    ]


async def test_failures_from_one_client_do_not_block_another_clients_correct_login(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/auth/register", json=RIGHT, headers=from_client(OWNER_PHONE))
    assert created.status_code == 201
    assert await statuses(client, WRONG, *[ATTACKER] * 3) == [401, 401, 401]
    refused = await client.post("/auth/login", json=RIGHT, headers=from_client(ATTACKER))
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert await statuses(client, WRONG, *[ATTACKER] * 5) == [429] * 5
    owner = await client.post("/auth/login", json=RIGHT, headers=from_client(OWNER_PHONE))
    assert owner.status_code == 200
    assert owner.json()["user"]["email"] == OWNER


async def test_an_account_hammered_from_many_clients_never_locks_its_owner_out(
    start_app: StartApp,
) -> None:
    app, client = await start_app(
        login_account_failures_before_backoff=4, login_account_backoff_max_seconds=30
    )
    clock = Clock()
    app.state.auth.limits.login.clock = clock
    created = await client.post("/auth/register", json=RIGHT, headers=from_client(OWNER_PHONE))
    assert created.status_code == 201
    bots = [f"192.0.2.{n}" for n in range(1, 13)]
    assert await statuses(client, WRONG, *bots) == [401] * 12
    again = await client.post("/auth/login", json=WRONG, headers=from_client(bots[0]))
    # 12 failures on the account, 4 free: a bot that failed waits min(30, 2**8) s.
    assert (again.status_code, again.headers["Retry-After"]) == (429, "30")
    # The owner's phone has not failed: it signs in at once, however hard the account is hit.
    assert await statuses(client, RIGHT, OWNER_PHONE) == [200]
    # A typo on the laptop costs the owner the account's short backoff, never a lockout.
    assert await statuses(client, WRONG, OWNER_LAPTOP) == [401]
    waiting = await client.post("/auth/login", json=RIGHT, headers=from_client(OWNER_LAPTOP))
    assert (waiting.status_code, waiting.headers["Retry-After"]) == (429, "30")
    clock.now += 30
    assert await statuses(client, RIGHT, OWNER_LAPTOP) == [200]


async def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    assert (await client.post("/auth/register", json=RIGHT)).status_code == 201
    spoofed = [f"198.51.100.{n}" for n in range(1, 5)]
    async with peer(app, "192.0.2.50") as untrusted:
        assert await statuses(untrusted, WRONG, *spoofed) == [401, 401, 401, 429]
    # The same headers from the trusted storefront name four different clients.
    assert await statuses(client, WRONG, *spoofed) == [401, 401, 401, 401]
    counted = app.state.auth.limits.login.by_client._entries
    assert {key: count for key, (count, _) in counted.items()} == {
        "192.0.2.50": 3,
        **dict.fromkeys(spoofed, 1),
    }


async def test_registrations_are_limited_per_client(start_app: StartApp) -> None:
    app, client = await start_app(register_max_per_client=2)
    app.state.auth.limits.register.clock = Clock()
    first, other = from_client("198.51.100.7"), from_client("198.51.100.8")
    answers = [
        await client.post(
            "/auth/register",
            json={"email": f"r{n}@example.com", "password": USER_PASSWORD},
            headers=first,
        )
        for n in range(3)
    ]
    assert [a.status_code for a in answers] == [201, 201, 429]
    body = answers[2].json()["error"]
    assert (body["code"], body["message"]) == (
        "too_many_requests",
        "too many registrations from this address; try again later",
    )
    assert answers[2].headers["Retry-After"] == "3600"
    assert await User.count() == 2
    elsewhere = await client.post(
        "/auth/register", json={"email": "r9@example.com", "password": USER_PASSWORD}, headers=other
    )
    assert elsewhere.status_code == 201
    assert await User.count() == 3


async def test_password_checks_beyond_the_queue_get_503_at_once(
    start_app: StartApp, gated_hasher: GatedHasher
) -> None:
    app, client = await start_app(password_hash_concurrency=1, password_hash_queue=0)
    pool = app.state.auth.passwords
    first = asyncio.create_task(
        client.post("/auth/register", json=RIGHT, headers=from_client(OWNER_PHONE))
    )
    await wait_until_admitted(pool, 1)
    unknown = {"email": "nobody@example.com", "password": USER_PASSWORD}
    refused = [
        await client.post("/auth/login", json=unknown, headers=from_client(ATTACKER)),
        await client.post(
            "/auth/register",
            json={"email": "second@example.com", "password": USER_PASSWORD},
            headers=from_client(OWNER_LAPTOP),
        ),
    ]
    for answer in refused:
        assert (answer.status_code, answer.headers["Retry-After"]) == (503, "1")
        error = answer.json()["error"]
        assert (error["code"], error["message"]) == (
            "service_unavailable",
            "too many sign-ins and registrations at once; try again in a second",
        )
    # A check that never ran is no failure: nothing counted against the client or the account.
    assert app.state.auth.limits.login.by_client._entries == {}
    gated_hasher.gate.set()
    assert (await first).status_code == 201
    assert [u.email for u in await User.find_all().to_list()] == [OWNER]
