"""Moving an order out of `reserving`: confirm it, or cancel it and give its stock back.

Every step is a conditional update that is safe to repeat and to run from several processes at
once (the request, the sweeper of every worker and replica): an order leaves `reserving` once,
a put-back applies only while its take is recorded on the product (services/ledger.py).
Timing keeps a request and the others apart: a request works on its order until the order's
deadline (the request's database deadline, in database time); others settle an order left
`reserving` only after the deadline plus a margin larger than that deadline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from beanie import PydanticObjectId
from pymongo.errors import PyMongoError

from api_service.errors import DomainError
from api_service.models import Order, OrderLine, OrderStatus, Outcome, RequestedLine
from api_service.services import ledger
from api_service.services.conditional import field_is, update_if
from api_service.services.stockmode import StockWrites

logger = logging.getLogger(__name__)

MARGIN_EXTRA = timedelta(seconds=10)


@dataclass(frozen=True)
class Timing:
    """How long a request may work on its order; after that plus the margin, others settle it."""

    deadline: timedelta

    @property
    def margin(self) -> timedelta:
        """Larger than the request deadline, so no command of the request is still under way."""
        return self.deadline + MARGIN_EXTRA

    def settles_at(self, order: Order) -> datetime:
        """When others may settle an order still `reserving`."""
        assert order.deadline is not None  # noqa: S101 - every reserving order has one
        return order.deadline + self.margin


def op_for(order_id: PydanticObjectId, index: int, qty: int) -> str:
    """A take's operation id; it names the order and the quantity, so it can be settled alone."""
    return f"{order_id}:{index}:{qty}"


def parse_op(op: str) -> tuple[PydanticObjectId, int] | None:
    """(order id, qty) of an operation id, or None for one this service did not write."""
    parts = op.split(":")
    if len(parts) != 3 or not parts[2].isdigit() or not PydanticObjectId.is_valid(parts[0]):
        return None
    return PydanticObjectId(parts[0]), int(parts[2])


RESERVING = field_is("status", OrderStatus.RESERVING.value)


async def confirm(order: Order, lines: list[OrderLine], mode: StockWrites) -> Order | None:
    """reserving -> confirmed with the priced lines and total; None if it is no longer reserving."""
    update = {
        "$set": {
            "status": OrderStatus.CONFIRMED.value,
            "items": [line.model_dump() for line in lines],
            "total": sum(line.line_total for line in lines),
        }
    }
    raw = await update_if(
        Order.get_pymongo_collection(), order.id, RESERVING, update, mode, after=True
    )
    return None if raw is None else Order.model_validate(raw)


async def cancel(order_id: PydanticObjectId, outcome: Outcome, mode: StockWrites) -> Order | None:
    """reserving -> cancelled with why; the order as it now is (None if it does not exist)."""
    collection = Order.get_pymongo_collection()
    update = {"$set": {"status": OrderStatus.CANCELLED.value, "outcome": outcome.model_dump()}}
    raw = await update_if(collection, order_id, RESERVING, update, mode, after=True)
    if raw is None:
        raw = await collection.find_one({"_id": order_id})
    return None if raw is None else Order.model_validate(raw)


async def put_back(lines: list[RequestedLine], mode: StockWrites) -> int:
    """Give back every line whose take is recorded, newest first; how many units this returned."""
    returned = 0
    for line in reversed(lines):
        if await ledger.put_back(line, mode):
            returned += line.qty
    return returned


async def forget_takes(order: Order, mode: StockWrites) -> None:
    """A confirmed order's units stay sold: drop its operation ids from the products."""
    for line in order.requested:
        await ledger.forget(line.product_id, [line.op], mode)


async def give_up(
    order: Order, outcome: Outcome, lines: list[RequestedLine], mode: StockWrites
) -> None:
    """Cancel the order, then give back the lines that may have been taken (best effort).

    If the database is away, the order stays `reserving` (or its units recorded) and the
    sweeper finishes the job; nothing is kept in memory.
    """
    try:
        cancelled = await cancel(PydanticObjectId(order.id), outcome, mode)
        if cancelled is not None and cancelled.status == OrderStatus.CANCELLED:
            await put_back(lines, mode)
    except (PyMongoError, DomainError) as exc:
        logger.warning(
            "order left for the sweeper",
            extra={"order_id": str(order.id), "error": type(exc).__name__},
        )


@dataclass(frozen=True)
class Settled:
    """An order as settled, and how many of its units this call gave back."""

    order: Order | None
    units_returned: int = 0


async def expire(order: Order, mode: StockWrites) -> Settled:
    """Settle an order past its settling time: cancel it if still reserving, then put back.

    A confirmed order only has its operation ids dropped. On FerretDB several processes may
    all see their cancel applied (same state, same outcome); the put-backs still apply once.
    """
    outcome = Outcome(code="expired", message="the order was not completed in time")
    settled = await cancel(PydanticObjectId(order.id), outcome, mode)
    if settled is None:
        return Settled(None)
    if settled.status == OrderStatus.CANCELLED:
        return Settled(settled, await put_back(settled.requested, mode))
    if settled.status == OrderStatus.CONFIRMED:
        await forget_takes(settled, mode)
    return Settled(settled)
