"""The API's process group is killed with SIGKILL mid-burst, several times: no unit is lost.

A real `python -m api_service` (2 workers) on FerretDB (and, with orders in one transaction, on
a MongoDB replica set where MICROSHOP_TEST_MONGODB_URI names one); shoppers order concurrently
and retry each order with its Idempotency-Key until it is answered for good; the group is killed
at random points of the burst and started again. After the API's sweeper has settled what the
kills left open, for every product stock + units in confirmed orders == initial stock, exactly.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_for_port
from tests.services.api_service.conftest import LEDGER, needs_transactions
from tests.services.api_service.test_process import base_env
from tests.services.api_service.test_restart import read_books, seed

ADMIN_PASSWORD = "crash-admin-password"
PRODUCTS, STOCK, SHOPPERS, ORDERS_EACH, KILLS = 4, 150, 8, 40, 3
DEADLINE = 3.0  # DB_REQUEST_TIMEOUT_SECONDS: orders left reserving settle 16 s after
ORDER_BOUND = 120.0  # one order, retried across kills and restarts, is answered within this
SETTLE_BOUND = 90.0
# The child sets its own signal handling: default dispositions and nothing blocked, whatever
# this process inherited, so the group dies on SIGKILL and stops on SIGTERM.
CHILD = (
    "import runpy, signal\n"
    "for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):\n"
    "    signal.signal(s, signal.SIG_DFL)\n"
    "signal.pthread_sigmask(signal.SIG_SETMASK, set())\n"
    "runpy.run_module('api_service', run_name='__main__', alter_sys=True)\n"
)


class Api:
    """The API's process group: started, killed with SIGKILL, started again on the same port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.port = env, log, int(env["PORT"])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", CHILD],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                process_group=0,
            )
        wait_for_port(self.port, self.proc, "api-service", timeout=60)

    def signal(self, sig: signal.Signals, bound: float) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=bound)
        deadline = time.monotonic() + bound
        while True:  # the workers too: the group is empty once killpg finds no one
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            assert time.monotonic() < deadline, "the API's workers outlived the signal"
            time.sleep(0.05)


@pytest.fixture(
    params=[
        pytest.param(LEDGER, id="ledger"),
        pytest.param("transaction", id="transaction", marks=needs_transactions),
    ]
)
def api(
    request: pytest.FixtureRequest, mongodb_uri: str, signing_key_file: Path, tmp_path: Path
) -> Iterator[tuple[Api, str]]:
    """The API on its own database, with a short database deadline and a 1 s sweeper.

    Once on the ledger path (the lease on FerretDB), once with orders in one transaction where
    the test database is a MongoDB replica set.
    """
    password_file = tmp_path / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n")
    database = f"c_{uuid.uuid4().hex[:12]}"
    env = base_env(
        MONGODB_URI=mongodb_uri,
        MONGODB_DATABASE=database,
        JWT_PRIVATE_KEY_FILE=str(signing_key_file),
        ADMIN_EMAIL="root@example.com",
        ADMIN_PASSWORD_FILE=str(password_file),
        PORT=str(free_port()),
        WORKERS="2",
        LOG_LEVEL="WARNING",
        DB_REQUEST_TIMEOUT_SECONDS=str(DEADLINE),
        ORDER_SWEEP_SECONDS="1",
        STOCK_WRITES=request.param,
    )
    server = Api(env, tmp_path / "api.log")
    server.start()
    try:
        yield server, database
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.signal(signal.SIGTERM, bound=30)


@dataclass
class Tally:
    """What the shoppers saw."""

    placed: dict[str, tuple[str, dict[str, int]]] = field(default_factory=dict)  # key -> order
    sold_out: int = 0
    answered: int = 0
    unreachable: int = 0
    unavailable: int = 0
    in_progress: int = 0
    other: list[tuple[int, str]] = field(default_factory=list)


async def _order(
    client: httpx.AsyncClient, user: dict[str, str], lines: dict[str, int], tally: Tally
) -> None:
    """One order, retried with its key across kills until it is placed or sold out."""
    key, started = str(uuid.uuid4()), time.monotonic()
    body = {"items": [{"productId": p, "qty": q} for p, q in lines.items()]}
    while True:
        assert time.monotonic() - started < ORDER_BOUND, f"order {key} not answered"
        try:
            response = await client.post(
                "/orders", json=body, headers={**user, "Idempotency-Key": key}
            )
        except httpx.TransportError:
            tally.unreachable += 1
            await asyncio.sleep(0.2)
            continue
        code = response.json().get("error", {}).get("code") if response.status_code >= 400 else ""
        if response.status_code == 201:
            tally.placed[key] = (response.json()["id"], lines)
        elif code == "out_of_stock":
            tally.sold_out += 1
        elif code == "order_in_progress":
            tally.in_progress += 1
            await asyncio.sleep(min(float(response.headers["Retry-After"]), 2.0))
            continue
        elif response.status_code == 503:
            tally.unavailable += 1
            await asyncio.sleep(0.2)
            continue
        else:
            tally.other.append((response.status_code, response.text[:200]))
        tally.answered += 1
        return


async def _shopper(
    client: httpx.AsyncClient, user: dict[str, str], ids: list[str], tally: Tally
) -> None:
    for _ in range(ORDERS_EACH):
        chosen = random.sample(ids, random.randint(1, 2))
        await _order(client, user, {p: random.randint(1, 3) for p in chosen}, tally)


async def _killer(
    api: Api, tally: Tally, shoppers: list[asyncio.Task[None]], uri: str, database: str
) -> list[tuple[int, int, int, int]]:
    """SIGKILL the group when the burst reaches random points, and start it again.

    Returns, per kill, the orders answered so far and what the kill left open (orders
    reserving, takes recorded, leases held), read while the API was down.
    """
    total = SHOPPERS * ORDERS_EACH
    points = sorted(random.sample(range(total // 10, total * 7 // 10), KILLS))
    kills = []
    for point in points:
        while tally.answered < point:
            assert not all(s.done() for s in shoppers), "the burst ended before the kills"
            await asyncio.sleep(0.02)
        await asyncio.to_thread(api.signal, signal.SIGKILL, 30)
        left = await asyncio.to_thread(read_books, uri, database)
        kills.append((tally.answered, left.reserving, left.takes, left.leases))
        await asyncio.sleep(random.uniform(0.1, 1.0))
        await asyncio.to_thread(api.start)
    return kills


async def test_sigkill_mid_burst_loses_no_unit(api: tuple[Api, str], mongodb_uri: str) -> None:
    server, database = api
    url = f"http://127.0.0.1:{server.port}"
    limits = httpx.Limits(max_connections=SHOPPERS + 2)
    async with httpx.AsyncClient(base_url=url, timeout=DEADLINE + 12, limits=limits) as client:
        ids, users = await seed(client, ADMIN_PASSWORD, PRODUCTS, STOCK, SHOPPERS)
        tally = Tally()
        shoppers = [asyncio.create_task(_shopper(client, u, ids, tally)) for u in users]
        kills = await _killer(server, tally, shoppers, mongodb_uri, database)
        await asyncio.wait_for(asyncio.gather(*shoppers), timeout=ORDER_BOUND * ORDERS_EACH)
    settle_started = time.monotonic()
    books = read_books(mongodb_uri, database)
    while not books.settled:
        assert time.monotonic() - settle_started < SETTLE_BOUND, f"not settled: {books}"
        await asyncio.sleep(0.5)
        books = read_books(mongodb_uri, database)

    assert tally.other == []
    assert len(kills) == KILLS
    assert tally.answered == SHOPPERS * ORDERS_EACH == len(tally.placed) + tally.sold_out
    assert books.off(STOCK) == dict.fromkeys(ids, 0)
    acknowledged = dict(tally.placed.values())  # order id -> lines, as the 201s said
    assert {oid: books.confirmed[oid] for oid in acknowledged} == acknowledged
    assert len(books.confirmed) == len(tally.placed)
    units = sum(sum(lines.values()) for lines in books.confirmed.values())
    print(  # the figures, shown with -s
        f"\ncrash figures: {KILLS} SIGKILLs of the process group, each as (orders answered,"
        f" reserving orders, takes, leases left open): {kills}; {tally.answered} orders"
        f" answered: {len(tally.placed)} placed ({units} units), {tally.sold_out} sold out;"
        f" retries: {tally.unreachable} unreachable, {tally.unavailable} 503,"
        f" {tally.in_progress} in progress; settled {time.monotonic() - settle_started:.1f} s"
        f" after the burst; stock + confirmed units - initial per product:"
        f" {sorted(books.off(STOCK).values())}"
    )
