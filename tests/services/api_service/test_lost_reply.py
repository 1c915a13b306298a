"""Lost replies: a proxy between the API and the database drops the reply to one write after the
database applied it (the take, the put-back, the order insert, the confirmation). The client
sees an error; the books stay exact, and a retry with the same key gets the real outcome.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import bson
import httpx
import pytest

from api_service.models import Order, OrderStatus, Product
from api_service.services.auth import ensure_admin
from api_service.services.servertime import server_clock
from api_service.services.settle import Timing
from api_service.services.sweeper import sweep
from tests.services.api_service.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    LEDGER,
    Starter,
    create_product,
    needs_transactions,
    ordering,
    register,
)

Rule = Callable[[dict[str, Any]], bool]
OP_MSG = 2013


def _command(message: bytes) -> dict[str, Any] | None:
    """The command document (section kind 0) of an OP_MSG, or None for anything else."""
    if struct.unpack_from("<i", message, 12)[0] != OP_MSG or message[20] != 0:
        return None
    (length,) = struct.unpack_from("<i", message, 21)
    document: dict[str, Any] = bson.decode(message[21 : 21 + length])
    return document


class LostReplyProxy:
    """A TCP proxy for the MongoDB wire protocol that drops one matching command's reply.

    The command reaches the database (which applies it); its reply is discarded and the
    client's connection closed, as when a network or a database process fails at that moment.
    Hand-written: a few lines of asyncio; no proxy library speaks the wire protocol.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.rule: Rule | None = None
        self.dropped: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        doomed: dict[int, str] = {}

        async def to_server() -> None:
            while message := await _read_message(reader):
                command = _command(message)
                if command is not None and self.rule is not None and self.rule(command):
                    self.rule = None  # once
                    doomed[struct.unpack_from("<i", message, 4)[0]] = next(iter(command))
                up_writer.write(message)
                await up_writer.drain()

        async def to_client() -> None:
            while message := await _read_message(up_reader):
                answer_to = struct.unpack_from("<i", message, 8)[0]
                if answer_to in doomed:
                    self.dropped.append(doomed.pop(answer_to))
                    return  # the database applied it; the client never hears
                writer.write(message)
                await writer.drain()

        pumps = [asyncio.create_task(to_server()), asyncio.create_task(to_client())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            writer.close()
            up_writer.close()


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    try:
        header = await reader.readexactly(4)
        return header + await reader.readexactly(struct.unpack("<i", header)[0] - 4)
    except (asyncio.IncompleteReadError, ConnectionError):
        return b""


@pytest.fixture
async def proxy(mongodb_uri: str) -> AsyncIterator[LostReplyProxy]:
    """The proxy in front of the test database."""
    address = urlparse(mongodb_uri)
    lost = LostReplyProxy((address.hostname or "127.0.0.1", address.port or 27017))
    await lost.start()
    yield lost
    await lost.stop()


def _stock_inc(command: dict[str, Any]) -> int:
    if command.get("findAndModify") != "products":
        return 0
    return int(command.get("update", {}).get("$inc", {}).get("stock", 0))


RULES: dict[str, Rule] = {
    "take": lambda c: _stock_inc(c) < 0,
    "put-back": lambda c: _stock_inc(c) > 0,
    "insert": lambda c: c.get("insert") == "orders",
    "confirm": lambda c: c.get("findAndModify") == "orders"
    and c.get("update", {}).get("$set", {}).get("status") == "confirmed",
}
# lines as (product, qty), the command whose reply is lost, the first answer, the answer to
# the same key sent again
CASES = {
    "take": ([("a", 2)], "findAndModify", 503, 201),
    "put-back": ([("a", 2), ("b", 2)], "findAndModify", 409, 409),  # b has 1: a's units go back
    "insert": ([("a", 2)], "insert", 503, 201),
    "confirm": ([("a", 2)], "findAndModify", 503, 201),
}
STOCK = {"a": 10, "b": 1}
# In a transaction: a lost reply to a take or to the insert fails the transaction, which is run
# again whole; a lost commit reply is answered by committing again; a lost abort reply changes
# nothing (the abort applied). Nothing is put back or confirmed outside the transaction.
TRANSACTION_RULES: dict[str, Rule] = {
    "take": RULES["take"],
    "insert": RULES["insert"],
    "commit": lambda c: "commitTransaction" in c,
    "abort": lambda c: "abortTransaction" in c,
}
TRANSACTION_CASES = {
    "take": ([("a", 2)], "findAndModify", 201, 201),
    "insert": ([("a", 2)], "insert", 201, 201),
    "commit": ([("a", 2)], "commitTransaction", 201, 201),
    "abort": ([("a", 2), ("b", 2)], "abortTransaction", 409, 409),  # b has 1
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_lost_reply_keeps_every_unit_and_a_retry_gets_the_outcome(
    proxy: LostReplyProxy, start_app: Starter, case: str
) -> None:
    await _lose_one_reply(proxy, start_app, RULES[case], CASES[case], LEDGER)


@needs_transactions
@pytest.mark.parametrize("case", list(TRANSACTION_CASES))
async def test_a_lost_reply_in_a_transaction_keeps_every_unit_and_a_retry_gets_the_outcome(
    proxy: LostReplyProxy, start_app: Starter, case: str
) -> None:
    rule, expected = TRANSACTION_RULES[case], TRANSACTION_CASES[case]
    await _lose_one_reply(proxy, start_app, rule, expected, "transaction")


async def _lose_one_reply(
    proxy: LostReplyProxy,
    start_app: Starter,
    rule: Rule,
    case: tuple[list[tuple[str, int]], str, int, int],
    mode: str,
) -> None:
    """One order whose command matching rule loses its reply; the same key again; the books."""
    # directConnection: a replica set's members would otherwise be reached by their own
    # addresses, around the proxy.
    app, client = await start_app(
        mongodb_uri=f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true",
        order_sweep_seconds=3600,
        stock_writes=mode,
    )
    admin_token = await _admin(client)
    ids = {name: (await create_product(client, admin_token, stock=n, name=name))["id"]
           for name, n in STOCK.items()}  # fmt: skip
    user = await register(client)
    lines, command, first_status, retry_status = case
    body = {"items": [{"productId": ids[name], "qty": qty} for name, qty in lines]}
    headers = ordering(user)
    proxy.rule = rule
    first = await client.post("/orders", json=body, headers=headers)
    assert (first.status_code, proxy.dropped) == (first_status, [command])
    retry = await client.post("/orders", json=body, headers=headers)
    assert retry.status_code == retry_status, retry.text
    later = await server_clock.now() + timedelta(hours=1)
    report = await sweep(app.state.stock_writes, Timing(timedelta(seconds=15)), now=later)
    assert report.errors == []
    await _assert_books(ids)


async def _admin(client: httpx.AsyncClient) -> str:
    assert await ensure_admin(ADMIN_EMAIL, ADMIN_PASSWORD) == "created"
    login = await client.post(
        "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    token: str = login.json()["token"]
    return token


async def _assert_books(ids: dict[str, str]) -> None:
    """For every product: stock + units in confirmed orders == initial; nothing left open."""
    sold = dict.fromkeys(ids.values(), 0)
    orders = await Order.find_all().to_list()
    for order in orders:
        if order.status == OrderStatus.CONFIRMED:
            for line in order.items:
                sold[str(line.product_id)] += line.qty
    for name, product_id in ids.items():
        product = await Product.get(product_id)
        assert product is not None
        assert (product.stock + sold[product_id], product.takes) == (STOCK[name], [])
    assert [o for o in orders if o.status == OrderStatus.RESERVING] == []
