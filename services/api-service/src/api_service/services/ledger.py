"""The stock ledger: a stock take records its operation id on the product in the same update.

- take: {_id, stock >= qty, takes != op} -> {$inc: {stock: -qty}, $push: {takes: op}}. A retry
  after a lost reply cannot apply twice, and whether it applied is read back (op in takes).
- put back: {_id, takes: op} -> {$inc: {stock: +qty}, $pull: {takes: op}}: at most once.
- forget: pull the ops of confirmed orders (their units stay sold).
On FerretDB each runs under the product's lease and carries its fence (services/stocklock.py).
Every write is a findAndModify, which carries the deadline to the server (maxTimeMS).
"""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId
from pymongo import ReturnDocument

from api_service.errors import NotFound, OutOfStock, ProductBusy
from api_service.models import OrderLine, Product, RequestedLine
from api_service.services.stocklock import Fence, stock_guard
from api_service.services.stockmode import StockWrites


def _fenced_out(product: dict[str, Any], fence: Fence) -> bool:
    """Our lease was taken over (it expired) before the write was applied."""
    owner = fence.get("fenced", {}).get("$ne")
    return owner is not None and owner in product.get("fenced", [])


def _priced(product: dict[str, Any], line: RequestedLine) -> OrderLine:
    price = int(product["price"])
    return OrderLine(
        product_id=line.product_id,
        name=str(product["name"]),
        qty=line.qty,
        unit_price=price,
        line_total=price * line.qty,
    )


async def take(line: RequestedLine, mode: StockWrites) -> OrderLine:
    """Take the line's units if enough are left; the product document gives name and price.

    No projection: FerretDB 1.24 does not implement findAndModify "fields".
    """
    collection = Product.get_pymongo_collection()
    async with stock_guard(line.product_id, mode) as fence:
        raw = await collection.find_one_and_update(
            {
                "_id": line.product_id,
                "stock": {"$gte": line.qty},
                "takes": {"$ne": line.op},
                **fence,
            },
            {"$inc": {"stock": -line.qty}, "$push": {"takes": line.op}},
            return_document=ReturnDocument.BEFORE,
        )
    if raw is None:  # refused: find out why by reading (a retry may find its take applied)
        raw = await collection.find_one({"_id": line.product_id})
        if raw is None:
            raise NotFound(f"product {line.product_id} not found")
        if line.op not in raw.get("takes", []):
            if _fenced_out(raw, fence):
                raise ProductBusy("the product is busy; try again")
            raise OutOfStock(f"not enough stock for product {line.product_id}")
    return _priced(raw, line)


async def put_back(line: RequestedLine, mode: StockWrites) -> bool:
    """Return the line's units if its take is recorded; True when this call returned them."""
    async with stock_guard(line.product_id, mode) as fence:
        raw = await Product.get_pymongo_collection().find_one_and_update(
            {"_id": line.product_id, "takes": line.op, **fence},
            {"$inc": {"stock": line.qty}, "$pull": {"takes": line.op}},
        )
    return raw is not None


async def forget(product_id: PydanticObjectId, ops: list[str], mode: StockWrites) -> None:
    """Drop settled operation ids (takes of confirmed orders) from a product."""
    async with stock_guard(product_id, mode) as fence:
        await Product.get_pymongo_collection().find_one_and_update(
            {"_id": product_id, **fence}, {"$pullAll": {"takes": ops}}
        )
