"""Placing orders durably and idempotently: stored first (`reserving`), then stock, then confirmed.

Where the database has transactions ("transaction" mode) the takes and the insert of the
confirmed order commit in one transaction instead (services/txorders.py); the key, its replay
and its attempts below are the same in every mode.

1. The order is inserted in state `reserving` with its requested lines (each with an operation
   id), the user's Idempotency-Key and a deadline in database time.
2. Each line's stock is taken by one conditional update that records the operation id on the
   product (services/ledger.py): a retry or a lost reply is resolved by reading.
3. The order goes `reserving -> confirmed` with its priced lines; the operation ids are then
   dropped from the products. Out of stock or unknown product: `reserving -> cancelled` and the
   lines taken are put back. Whatever is left undone (the process died, the database went
   away) is finished by the sweeper (services/sweeper.py), never by memory.

The key is unique per user (with the attempt number): the same key sent again returns the first
outcome (the confirmed order, or the same 404/409), a 409 `order_in_progress` while the first
attempt may still be running, and makes a new attempt only when the previous one was not
completed (it failed or expired, its stock given back). A different body is a 422.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math

from beanie import PydanticObjectId, SortDirection
from pymongo.errors import DuplicateKeyError, PyMongoError

from api_service.errors import (
    DomainError,
    IdempotencyKeyReused,
    NotFound,
    OrderInProgress,
    OutOfStock,
    ServiceUnavailable,
    database_unavailable,
)
from api_service.models import Order, OrderLine, OrderStatus, Outcome, RequestedLine
from api_service.schemas.orders import OrderItemIn
from api_service.services import ledger, settle, txorders
from api_service.services.products import read_page
from api_service.services.servertime import server_clock
from api_service.services.settle import Timing
from api_service.services.stockmode import StockWrites

logger = logging.getLogger(__name__)

REPLAYED = {OutOfStock.code: OutOfStock, NotFound.code: NotFound}
PLACED = {"status": {"$nin": [OrderStatus.RESERVING.value, OrderStatus.CANCELLED.value]}}


def request_hash(items: list[OrderItemIn]) -> str:
    """A digest of what was asked for, to tell a retry from another order under the same key."""
    lines = [[item.product_id.lower(), item.qty] for item in items]
    return hashlib.sha256(json.dumps(lines).encode()).hexdigest()


async def _latest_attempt(scope: str) -> Order | None:
    return (
        await Order.find({"idempotency_key": scope})
        .sort(("attempt", SortDirection.DESCENDING))
        .first_or_none()
    )


async def _replay(order: Order, digest: str, mode: StockWrites, timing: Timing) -> Order | None:
    """The first outcome for a key already used; None when a new attempt may be made."""
    if order.request_hash != digest:
        raise IdempotencyKeyReused(
            "Idempotency-Key was already used for a different order; use a new key"
        )
    if order.status == OrderStatus.CONFIRMED:
        return order
    if order.status == OrderStatus.RESERVING:
        now = await server_clock.now()
        settles_at = timing.settles_at(order)
        if now < settles_at:
            assert order.deadline is not None  # noqa: S101 - every reserving order has one
            wait = 1 if now < order.deadline else math.ceil((settles_at - now).total_seconds())
            raise OrderInProgress(
                "an order with this Idempotency-Key is still being placed; ask again", max(wait, 1)
            )
        settled = (await settle.expire(order, mode)).order
        if settled is None or settled.status != OrderStatus.CANCELLED:
            return settled
        order = settled
    assert order.outcome is not None  # noqa: S101 - every cancelled order says why
    replayed = REPLAYED.get(order.outcome.code)
    if replayed is not None:
        raise replayed(order.outcome.message)
    return None  # failed or expired: its stock is or will be given back; a new attempt may go


async def _new_order(
    user_id: PydanticObjectId,
    items: list[OrderItemIn],
    scope: str,
    attempt: int,
    digest: str,
    timing: Timing,
) -> Order:
    """The order as first stored (not yet inserted): reserving, with its lines' operation ids."""
    order_id = PydanticObjectId()
    requested = [
        RequestedLine(
            product_id=PydanticObjectId(item.product_id),
            qty=item.qty,
            op=settle.op_for(order_id, index, item.qty),
        )
        for index, item in enumerate(items)
    ]
    order = Order(
        id=order_id,
        user_id=user_id,
        status=OrderStatus.RESERVING,
        requested=requested,
        idempotency_key=scope,
        attempt=attempt,
        request_hash=digest,
        deadline=await server_clock.now() + timing.deadline,
    )
    return order


async def _insert(order: Order, mode: StockWrites) -> bool:
    """Store the new order; False if a concurrent duplicate stored this attempt first.

    An insert without an answer may have been stored: it is cancelled at once if it was (a
    retry may then make a new attempt); one that lands later is left to the sweeper.
    """
    try:
        await order.insert()
    except DuplicateKeyError:
        return False
    except PyMongoError as exc:
        if database_unavailable(exc):
            outcome = Outcome(code="failed", message="the order could not be stored")
            await settle.give_up(order, outcome, [], mode)
        raise
    return True


async def _fulfil(order: Order, mode: StockWrites) -> Order:
    """Take every line, then confirm; on failure cancel and give back (or leave to the sweeper)."""
    lines: list[OrderLine] = []
    try:
        for line in order.requested:
            lines.append(await ledger.take(line, mode))
    except (NotFound, OutOfStock) as exc:
        outcome = Outcome(code=exc.code, message=exc.message)
        await settle.give_up(order, outcome, order.requested[: len(lines)], mode)
        raise
    except BaseException:
        outcome = Outcome(code="failed", message="the order could not be completed")
        await settle.give_up(order, outcome, order.requested[: len(lines) + 1], mode)
        raise
    confirmed = await settle.confirm(order, lines, mode)
    if confirmed is None:  # settled by others: only possible past the deadline
        raise ServiceUnavailable("the order could not be completed in time; try again")
    try:
        await settle.forget_takes(confirmed, mode)
    except (PyMongoError, DomainError) as exc:  # placed; the sweeper drops the ids later
        logger.warning("operation ids left for the sweeper", extra={"error": type(exc).__name__})
    return confirmed


async def place_order(
    user_id: PydanticObjectId,
    items: list[OrderItemIn],
    key: str,
    mode: StockWrites,
    timing: Timing,
) -> Order:
    """Place an order once per Idempotency-Key; see the module docstring for what a retry gets."""
    scope, digest = f"{user_id}:{key}", request_hash(items)
    attempt = 0
    for _ in range(3):  # the first insert says whether the key is new (no lookup before)
        order = await _new_order(user_id, items, scope, attempt, digest, timing)
        if mode == "transaction":
            placed = await txorders.place(order, timing)
            if placed is not None:
                return placed
        elif await _insert(order, mode):
            return await _fulfil(order, mode)
        latest = await _latest_attempt(scope)
        if latest is not None:
            replayed = await _replay(latest, digest, mode, timing)
            if replayed is not None:
                return replayed
            attempt = (latest.attempt or 0) + 1
    raise OrderInProgress("an order with this Idempotency-Key is being placed; ask again", 1)


async def orders_of(user_id: PydanticObjectId, limit: int, offset: int) -> tuple[list[Order], int]:
    """One page of a user's placed (confirmed) orders, newest first, and how many in all."""
    newest_first = [("created_at", SortDirection.DESCENDING), ("_id", SortDirection.DESCENDING)]
    mine = {"user_id": user_id, **PLACED}
    return await read_page(
        Order.find(mine).sort(newest_first), Order.find(mine).count, limit, offset
    )
