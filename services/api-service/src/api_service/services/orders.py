"""Placing orders without transactions: take stock per item atomically, put it back on failure.

Each item: one conditional atomic update ({"stock": {"$gte": qty}} + $inc); on FerretDB under
the product's lease (services/stocklock.py, mode detected at start-up by services/stockmode.py).
If a later item fails, or storing the order fails, the items already taken are given back with
$inc (compensation), newest first. On MongoDB an order of one item is two commands: the
conditional update and the order insert.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from beanie import PydanticObjectId, SortDirection
from pymongo import ReturnDocument
from pymongo.errors import PyMongoError

from api_service.errors import (
    NotFound,
    OutOfStock,
    ServiceUnavailable,
    database_unavailable,
    worth_retrying,
)
from api_service.models import Order, OrderLine, Product
from api_service.schemas.orders import OrderItemIn
from api_service.services.later import retry_later
from api_service.services.products import read_page
from api_service.services.stocklock import stock_guard
from api_service.services.stockmode import StockWrites

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Taken:
    """Stock taken for one order line, remembered so it can be put back."""

    product_id: PydanticObjectId
    qty: int


async def _take(product_id: PydanticObjectId, qty: int, mode: StockWrites) -> OrderLine:
    """Decrement stock only if enough is left; the returned document gives name and price.

    No projection: FerretDB 1.24 does not implement findAndModify "fields".
    """
    collection = Product.get_pymongo_collection()
    async with stock_guard(product_id, mode):
        try:
            raw = await collection.find_one_and_update(
                {"_id": product_id, "stock": {"$gte": qty}},
                {"$inc": {"stock": -qty, "version": 1}},
                return_document=ReturnDocument.BEFORE,
            )
        except PyMongoError as exc:
            if database_unavailable(exc):
                # Sent, but no answer: the database may have applied it. Those units are then
                # neither sold nor back in stock (never sold twice); logged for reconciliation.
                logger.warning(
                    "stock take of unknown outcome",
                    extra={"product_id": str(product_id), "qty": qty},
                )
            raise
    if raw is None:
        if await collection.count_documents({"_id": product_id}, limit=1) == 0:
            raise NotFound(f"product {product_id} not found")
        raise OutOfStock(f"not enough stock for product {product_id}")
    price = int(raw["price"])
    return OrderLine(
        product_id=product_id,
        name=str(raw["name"]),
        qty=qty,
        unit_price=price,
        line_total=price * qty,
    )


async def _give_back(item: Taken, mode: StockWrites) -> None:
    """Return one line's units (an atomic $inc)."""
    async with stock_guard(item.product_id, mode):
        await Product.get_pymongo_collection().update_one(
            {"_id": item.product_id}, {"$inc": {"stock": item.qty}}
        )


async def _settle(order_id: PydanticObjectId, taken: list[Taken], mode: StockWrites) -> None:
    """After an insert whose outcome is unknown: keep the stock if the order was stored."""
    stored = await Order.get_pymongo_collection().count_documents({"_id": order_id}, limit=1)
    if not stored:
        await _put_back(taken, mode)


async def _put_back(taken: list[Taken], mode: StockWrites) -> None:
    """Compensate: return every unit taken so far, newest first.

    If the database is away or the product stays busy (its lease held elsewhere, e.g. while
    the database recovers), the lines not yet returned are retried in the background
    (services/later.py) so no unit is lost; the request fails at once.
    """
    left = list(reversed(taken))
    while left:
        try:
            await _give_back(left[0], mode)
        except (PyMongoError, ServiceUnavailable) as exc:
            if not worth_retrying(exc):
                raise
            for item in left:
                retry_later(
                    f"put back {item.qty} of product {item.product_id}",
                    partial(_give_back, item, mode),
                )
            return
        left.pop(0)


async def place_order(
    user_id: PydanticObjectId, items: list[OrderItemIn], mode: StockWrites
) -> Order:
    """Take stock item by item, then store the order; on any failure give the stock back."""
    taken: list[Taken] = []
    lines: list[OrderLine] = []
    try:
        for item in items:
            product_id = PydanticObjectId(item.product_id)
            lines.append(await _take(product_id, item.qty, mode))
            taken.append(Taken(product_id, item.qty))
        order = Order(user_id=user_id, items=lines, total=sum(line.line_total for line in lines))
        order.id = PydanticObjectId()  # known before the insert, so a lost reply can be settled
        try:
            await order.insert()
        except PyMongoError as exc:
            if not database_unavailable(exc):
                raise
            # The insert may have been stored even though its reply was lost: settle later,
            # putting the stock back only if the order is not there.
            retry_later(f"settle order {order.id}", partial(_settle, order.id, list(taken), mode))
            taken.clear()
            raise
    except BaseException:
        if taken:
            logger.info("order failed part-way; returning stock", extra={"lines": len(taken)})
            await _put_back(taken, mode)
        raise
    return order


async def orders_of(user_id: PydanticObjectId, limit: int, offset: int) -> tuple[list[Order], int]:
    """One page of a user's orders, newest first, and how many they have in all."""
    newest_first = [("created_at", SortDirection.DESCENDING), ("_id", SortDirection.DESCENDING)]
    query = Order.find(Order.user_id == user_id).sort(newest_first)
    return await read_page(query, Order.find(Order.user_id == user_id).count, limit, offset)
