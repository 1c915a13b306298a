"""The stock ledger: a stock take records its operation id on the product in the same update.

- take: {_id, stock >= qty, takes != op} -> {$inc: {stock: -qty, version: +1}, $push: {takes: op}}.
  A retry after a lost reply cannot apply twice, and whether it applied is read back (op in takes).
- put back: {_id, takes: op} -> {$inc: {stock: +qty, version: +1}, $pull: {takes: op}}: at most
  once. Both move the product's version (its ETag), so an admin's write against a version read
  before them is refused (412) instead of undoing them (services/products.py).
- forget: pull the ops of confirmed orders (their units stay sold; stock and version unchanged).
On FerretDB each runs under the product's lease and carries its fence (services/stocklock.py);
conditions are applied as services/conditional.py says. Every write is a findAndModify, which
carries the request's deadline to the server (maxTimeMS).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from beanie import PydanticObjectId

from api_service.errors import NotFound, OutOfStock, ProductBusy
from api_service.models import OrderLine, Product, RequestedLine
from api_service.services.conditional import ALWAYS, at_least, field_is, not_in, update_if
from api_service.services.stocklock import stock_guard
from api_service.services.stockmode import StockWrites


def priced(product: Mapping[str, Any], line: RequestedLine) -> OrderLine:
    """The order line for a take: name and unit price from the product document as taken."""
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
    untaken = at_least("stock", line.qty) & not_in("takes", line.op)
    update = {"$inc": {"stock": -line.qty, "version": 1}, "$push": {"takes": line.op}}
    async with stock_guard(line.product_id, mode) as fence:
        raw = await update_if(collection, line.product_id, untaken & fence, update, mode)
    if raw is None:  # refused: find out why by reading (a retry may find its take applied)
        raw = await collection.find_one({"_id": line.product_id})
        if raw is None:
            raise NotFound(f"product {line.product_id} not found")
        if line.op not in raw.get("takes", []):
            if not fence.holds(raw):
                raise ProductBusy("the product is busy; try again")
            raise OutOfStock(f"not enough stock for product {line.product_id}")
    return priced(raw, line)


async def put_back(line: RequestedLine, mode: StockWrites) -> bool:
    """Return the line's units if its take is recorded; True when this call returned them."""
    update = {"$inc": {"stock": line.qty, "version": 1}, "$pull": {"takes": line.op}}
    async with stock_guard(line.product_id, mode) as fence:
        raw = await update_if(
            Product.get_pymongo_collection(),
            line.product_id,
            field_is("takes", line.op) & fence,
            update,
            mode,
        )
    return raw is not None


async def forget(product_id: PydanticObjectId, ops: list[str], mode: StockWrites) -> None:
    """Drop settled operation ids (takes of confirmed orders) from a product.

    Under the lease (a write of the whole document on FerretDB) but without the fence: ids of
    confirmed orders may be dropped by anyone at any time.
    """
    async with stock_guard(product_id, mode):
        await update_if(
            Product.get_pymongo_collection(),
            product_id,
            ALWAYS,
            {"$pullAll": {"takes": ops}},
            mode,
        )
