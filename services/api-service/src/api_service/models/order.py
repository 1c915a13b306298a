"""The orders collection: an order is stored first (reserving), then confirmed or cancelled."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import IndexModel

from api_service.clock import utc_now


class OrderStatus(StrEnum):
    """Where an order is in its life: stock being taken, placed, or not placed."""

    RESERVING = "reserving"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class OrderLine(BaseModel):
    """One product in an order, with the unit price taken when the stock was taken."""

    product_id: PydanticObjectId
    name: str
    qty: int
    unit_price: int  # cents
    line_total: int  # cents


class RequestedLine(BaseModel):
    """One line as asked for, with the operation id its stock take records on the product."""

    product_id: PydanticObjectId
    qty: int
    op: str  # "<order id>:<line index>", unique across all takes


class Outcome(BaseModel):
    """Why an order was cancelled: the error a retry with the same key answers again."""

    code: str  # out_of_stock, not_found (replayed); expired, failed (a retry makes a new attempt)
    message: str


class Order(Document):
    """An order; total is the sum of the line totals, in cents (both set when confirmed).

    Orders stored before orders had states carry none of the newer fields: they were placed,
    hence the defaults.
    """

    user_id: PydanticObjectId
    items: list[OrderLine] = Field(default_factory=list)
    total: int = 0  # cents
    created_at: datetime = Field(default_factory=utc_now)
    status: OrderStatus = OrderStatus.CONFIRMED
    requested: list[RequestedLine] = Field(default_factory=list)
    # "<user id>:<Idempotency-Key>"; with `attempt` unique, so a key places at most one order.
    idempotency_key: str | None = None
    attempt: int | None = None
    request_hash: str | None = None  # the body the key was first used with
    deadline: datetime | None = None  # database time past which the request has given up
    outcome: Outcome | None = None

    class Settings:
        name = "orders"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel(
                [("user_id", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)],
                name="user_newest_first",
            )
        ]


# Created one per command by ensure_order_indexes(), not by Beanie: FerretDB 1.24 panics on a
# createIndexes command naming two or more indexes that already exist (measured: every restart
# of the API failed), and Beanie sends all of a document's indexes in one command.
SEPARATE_INDEXES = [
    # Sparse: orders without a key (stored before keys existed) are not indexed.
    IndexModel(
        [("idempotency_key", pymongo.ASCENDING), ("attempt", pymongo.DESCENDING)],
        name="one_order_per_key_attempt",
        unique=True,
        sparse=True,
    ),
    IndexModel([("status", pymongo.ASCENDING)], name="by_status"),
]


async def ensure_order_indexes() -> None:
    """Create the indexes of SEPARATE_INDEXES, each in a command of its own (idempotent)."""
    for index in SEPARATE_INDEXES:
        await Order.get_pymongo_collection().create_indexes([index])
