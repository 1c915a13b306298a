"""The database stops and starts again under order load: 503s while it is away, nothing lost."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from tests.conftest import free_port, stop_process, tool_path, wait_for_port
from tests.services.api_service.test_process import base_env

ADMIN_PASSWORD = "restart-admin-password"
PRODUCTS, STOCK, SHOPPERS = 5, 1_000, 6
DEADLINE = 3.0  # DB_REQUEST_TIMEOUT_SECONDS given to the API
SLACK = 12.0  # a loaded 2-core machine: how much later than the deadline an answer may come
RECOVERY_BOUND = 60.0

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MICROSHOP_TEST_MONGODB_URI")),
    reason="stops and restarts the database: needs the local FerretDB, not an external server",
)


class Database:
    """A FerretDB process on a fixed data folder and port that can be stopped and started."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.binary = tool_path("ferretdb")
        self.proc: subprocess.Popen[bytes] | None = None
        self.uri = f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> None:
        log = (self.folder / "ferretdb.log").open("ab")
        self.proc = subprocess.Popen(
            [
                self.binary, "--handler=sqlite", f"--sqlite-url=file:{self.folder}/",
                f"--state-dir={self.folder}", "--telemetry=disable", "--debug-addr=-",
                f"--listen-addr=127.0.0.1:{self.port}", "--log-level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        wait_for_port(self.port, self.proc, "FerretDB")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


@dataclass
class Tally:
    """What the load saw."""

    acknowledged: dict[str, dict[str, int]] = field(default_factory=dict)  # order id -> qty
    unavailable: int = 0
    unavailable_while_down: int = 0
    other: list[tuple[int, str]] = field(default_factory=list)
    slowest: float = 0.0
    first_201_after_restart: float | None = None


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """FerretDB of this test only (it gets stopped and started again)."""
    (tmp_path / "db").mkdir()
    db = Database(tmp_path / "db")
    db.start()
    try:
        yield db
    finally:
        db.stop()


@pytest.fixture
def api(database: Database, signing_key_file: Path, tmp_path: Path) -> Iterator[str]:
    """api-service (2 workers) on that database, with a short database deadline."""
    password_file = tmp_path / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n")
    port = free_port()
    env = base_env(
        MONGODB_URI=database.uri,
        JWT_PRIVATE_KEY_FILE=str(signing_key_file),
        ADMIN_EMAIL="root@example.com",
        ADMIN_PASSWORD_FILE=str(password_file),
        PORT=str(port),
        WORKERS="2",
        LOG_LEVEL="WARNING",
        DB_REQUEST_TIMEOUT_SECONDS=str(DEADLINE),
    )
    with (tmp_path / "api.log").open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api_service"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(port, proc, "api-service", timeout=60)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_process(proc, grace=30)


async def _seed(client: httpx.AsyncClient) -> tuple[list[str], list[dict[str, str]]]:
    login = await client.post(
        "/auth/login", json={"email": "root@example.com", "password": ADMIN_PASSWORD}
    )
    admin = {"Authorization": f"Bearer {login.json()['token']}"}
    ids = []
    for n in range(PRODUCTS):
        created = await client.post(
            "/products", json={"name": f"P{n}", "price": 100, "stock": STOCK}, headers=admin
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    users = []
    for n in range(SHOPPERS):
        body = {"email": f"s{n}@example.com", "password": "restart-shopper-pw"}
        registered = await client.post("/auth/register", json=body)
        users.append({"Authorization": f"Bearer {registered.json()['token']}"})
    return ids, users


def _is_envelope_503(response: httpx.Response) -> bool:
    if response.status_code != 503:
        return False
    error: dict[str, Any] = response.json().get("error", {})
    return error.get("code") == "service_unavailable" and bool(error.get("request_id"))


async def _shopper(
    client: httpx.AsyncClient,
    user: dict[str, str],
    ids: list[str],
    tally: Tally,
    state: dict[str, float | None],
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        product = random.choice(ids)
        qty = random.randint(1, 3)
        body = {"items": [{"productId": product, "qty": qty}]}
        started = time.monotonic()
        response = await client.post("/orders", json=body, headers=user)
        tally.slowest = max(tally.slowest, time.monotonic() - started)
        if response.status_code == 201:
            tally.acknowledged[response.json()["id"]] = {product: qty}
            restarted = state["restarted"]
            if restarted is not None and tally.first_201_after_restart is None:
                tally.first_201_after_restart = time.monotonic() - restarted
        elif _is_envelope_503(response):
            tally.unavailable += 1
            if state["down"]:
                tally.unavailable_while_down += 1
            await asyncio.sleep(0.1)
        else:
            tally.other.append((response.status_code, response.text[:200]))


async def _wait_ready(client: httpx.AsyncClient, want: int, bound: float) -> float:
    """Seconds until /ready answers `want` (bounded)."""
    started = time.monotonic()
    while time.monotonic() - started < bound:
        if (await client.get("/ready")).status_code == want:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    pytest.fail(f"/ready did not answer {want} within {bound} s")


def _unknown_takes(log: Path) -> dict[str, int]:
    """Units per product whose stock take got no answer (the API logs each one)."""
    units: dict[str, int] = {}
    for line in log.read_text().splitlines():
        if '"stock take of unknown outcome"' in line:
            record = json.loads(line)
            units[record["product_id"]] = units.get(record["product_id"], 0) + record["qty"]
    return units


def _books(uri: str) -> tuple[dict[str, int], dict[str, dict[str, int]], int]:
    """Stock per product, every stored order's quantities, and how many leases exist."""
    client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
    try:
        db = client["microshop"]
        stock = {str(p["_id"]): int(p["stock"]) for p in db.products.find()}
        orders = {
            str(o["_id"]): {str(line["product_id"]): int(line["qty"]) for line in o["items"]}
            for o in db.orders.find()
        }
        return stock, orders, db.stock_locks.count_documents({})
    finally:
        client.close()


async def test_orders_survive_a_database_restart(
    api: str, database: Database, tmp_path: Path
) -> None:
    log = tmp_path / "api.log"
    timeout = httpx.Timeout(DEADLINE + SLACK)
    limits = httpx.Limits(max_connections=SHOPPERS + 2)
    async with httpx.AsyncClient(base_url=api, timeout=timeout, limits=limits) as client:
        ids, users = await _seed(client)
        tally, stop = Tally(), asyncio.Event()
        state: dict[str, float | None] = {"down": None, "restarted": None}
        load = [
            asyncio.create_task(_shopper(client, user, ids, tally, state, stop)) for user in users
        ]
        await asyncio.sleep(2)
        before_outage = len(tally.acknowledged)
        stopped_at = time.monotonic()
        await asyncio.to_thread(database.stop)
        state["down"] = 1.0
        not_ready_after = await _wait_ready(client, 503, bound=DEADLINE + SLACK)
        await asyncio.sleep(4)
        state["down"] = None
        await asyncio.to_thread(database.start)
        outage = time.monotonic() - stopped_at
        state["restarted"] = time.monotonic()
        ready_after = await _wait_ready(client, 200, bound=RECOVERY_BOUND)
        recovery_started = time.monotonic()
        while tally.first_201_after_restart is None:
            assert time.monotonic() - recovery_started < RECOVERY_BOUND, "no 201 after restart"
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*load), timeout=DEADLINE + SLACK)

    assert tally.other == []
    assert tally.slowest < DEADLINE + SLACK
    assert before_outage > 0
    assert tally.unavailable_while_down > 0
    # Put-backs and lease releases that failed while the database was away are retried in the
    # background: wait (bounded) until the books settle, then check them exactly.
    settle_started = time.monotonic()
    while True:
        stock, orders, leases = _books(database.uri)
        sold: dict[str, int] = dict.fromkeys(ids, 0)
        for lines in orders.values():
            for product, qty in lines.items():
                sold[product] += qty
        off = {p: stock[p] - (STOCK - sold[p]) for p in ids if stock[p] != STOCK - sold[p]}
        unknown = _unknown_takes(log)
        # Units are missing only where a stock take got no answer (logged), never more.
        settled = all(-off.get(p, 0) <= unknown.get(p, 0) for p in ids)
        if leases == 0 and settled and not [n for n in off.values() if n > 0]:
            lost = -sum(off.values())
            break
        assert time.monotonic() - settle_started < 60, f"stock minus expected {off}, {leases=}"
        await asyncio.sleep(0.5)
    # Every 201 is stored with its lines. An order stored although its answer was a 503 (an
    # insert whose reply was lost) keeps its stock (settled) and is counted, not hidden.
    assert set(tally.acknowledged) <= set(orders)
    assert {oid: orders[oid] for oid in tally.acknowledged} == tally.acknowledged
    stored_after_503 = len(set(orders) - set(tally.acknowledged))
    print(  # the figures the issue asks for, shown with -s
        f"\nrestart figures: outage {outage:.1f} s, not ready after {not_ready_after:.1f} s,"
        f" 503s served {tally.unavailable} ({tally.unavailable_while_down} while down),"
        f" ready {ready_after:.1f} s after restart, first 201 after"
        f" {tally.first_201_after_restart:.1f} s, orders acknowledged {len(tally.acknowledged)},"
        f" found {len(orders)}, slowest answer {tally.slowest:.1f} s,"
        f" stored after a 503 {stored_after_503},"
        f" units of unknown outcome {sum(_unknown_takes(log).values())}, lost {lost}"
    )
