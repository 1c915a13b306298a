"""Placing an order in one MongoDB transaction: its stock takes and its insert commit together.

Used where the database has transactions (services/stockmode.py: "transaction"). Inside one
transaction each line's stock is taken by a conditional findAndModify ({_id, stock >= qty} ->
$inc stock -qty, version +1), then the order is inserted `confirmed` with its priced lines; the
commit makes all of it visible at once, or none of it. No operation id is recorded on a product,
no order is ever `reserving`, so the sweeper finds nothing of these orders to settle.

- Out of stock or unknown product: the transaction is aborted (nothing of it was written), and
  the outcome is remembered for the Idempotency-Key by a `cancelled` order that carries it,
  inserted after the abort on its own (one document): the same key again gets the same 404/409.
- The same key sent concurrently: the unique index on (key, attempt) lets one transaction commit;
  another's insert meets a write conflict (run again whole) and then DuplicateKey, which aborts
  it, and the caller answers with the stored outcome.
- Bounded by the request's deadline (services/txloop.py). A request that gives up, or a process
  that dies, leaves at most an open transaction, which the server aborts (at the latest after
  its transactionLifetimeLimitSeconds, 60 s by default; meanwhile orders of its products meet
  write conflicts until their deadline and answer 503).
"""

from __future__ import annotations

from functools import partial

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from api_service.errors import NotFound, OutOfStock
from api_service.models import Order, OrderLine, OrderStatus, Outcome, Product, RequestedLine
from api_service.services import txloop
from api_service.services.ledger import priced
from api_service.services.settle import Timing

Session = AsyncClientSession


async def _take(line: RequestedLine, session: Session) -> OrderLine:
    """Take the line's units in the transaction; the product document gives name and price."""
    collection = Product.get_pymongo_collection()
    raw = await collection.find_one_and_update(
        {"_id": line.product_id, "stock": {"$gte": line.qty}},
        {"$inc": {"stock": -line.qty, "version": 1}},
        session=session,
    )
    if raw is not None:
        return priced(raw, line)
    if await collection.find_one({"_id": line.product_id}, {"_id": 1}, session=session) is None:
        raise NotFound(f"product {line.product_id} not found")
    raise OutOfStock(f"not enough stock for product {line.product_id}")


async def _take_all_and_insert(order: Order, session: Session) -> Order:
    """The transaction's body: every take, then the confirmed order with its priced lines."""
    lines = [await _take(line, session) for line in order.requested]
    placed: Order = order.model_copy(
        update={"items": lines, "total": sum(line.line_total for line in lines)}
    )
    await placed.insert(session=session)
    return placed


def confirmed(order: Order) -> Order:
    """The order as this path stores it: confirmed at once, with no deadline to settle by."""
    stored: Order = order.model_copy(update={"status": OrderStatus.CONFIRMED, "deadline": None})
    return stored


async def place(order: Order, timing: Timing) -> Order | None:
    """Take every line and store the order confirmed, in one transaction.

    None when another attempt of the same key was stored first (the caller replays its
    outcome). Out of stock or unknown product: the outcome is remembered, then raised.
    """
    client = Order.get_pymongo_collection().database.client
    deadline = txloop.time_now() + timing.deadline.total_seconds()
    body = partial(_take_all_and_insert, confirmed(order))
    try:
        async with client.start_session() as session:
            placed: Order = await txloop.run_transaction(session, body, deadline)
            return placed
    except DuplicateKeyError:
        return None
    except (NotFound, OutOfStock) as exc:
        await _remember(order, Outcome(code=exc.code, message=exc.message), exc)
        return None


async def _remember(order: Order, outcome: Outcome, error: Exception) -> None:
    """Store the failed attempt (cancelled, with why) for its key, then raise its error.

    Returns (instead of raising) when a concurrent duplicate stored this attempt first: its
    outcome is the answer.
    """
    record = order.model_copy(
        update={"status": OrderStatus.CANCELLED, "outcome": outcome, "deadline": None}
    )
    try:
        await record.insert()
    except DuplicateKeyError:
        return
    raise error
