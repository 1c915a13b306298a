"""Catalogue operations: list with pagination, get, create, replace, adjust stock, delete.

Every write increments the product's version (as do the orders' stock takes and put-backs,
services/ledger.py), and every write runs under the product's lease on FerretDB, carrying the
lease's fence (services/stocklock.py): FerretDB 1.24 rewrites the whole document on an update, so
an unguarded write of any field could undo a concurrent stock take. A write names only the fields
it changes, so the stock ledger (`takes`) and the fence entries are never overwritten. Stock is
written two ways: an absolute value only against the version it was read at (If-Match; a stale
version is a 412 and nothing is written), or a relative `$inc` that cannot leave 0-MAX_STOCK (a
409 if it would).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from beanie import PydanticObjectId
from bson.errors import InvalidId

from api_service.clock import utc_now
from api_service.errors import (
    DomainError,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ProductBusy,
    StockOutOfRange,
)
from api_service.etags import IfMatch, entity_tag
from api_service.models import Product
from api_service.schemas.base import MAX_STOCK
from api_service.schemas.products import ProductIn, ProductReplace
from api_service.services.conditional import ALWAYS, Condition, at_least, at_most, one_of, update_if
from api_service.services.stocklock import stock_guard
from api_service.services.stockmode import StockWrites

_ATTEMPTS = 3  # conditional writes tried while the product changes under them (MongoDB only)


@dataclass(frozen=True)
class Page:
    """One page of products (as stored documents) and the total count across all pages."""

    items: list[dict[str, Any]]
    total: int


def page_total(items: list[Any], limit: int, offset: int) -> int | None:
    """The total when the page itself proves it (no count query needed), else None.

    `items` is the result of asking for limit + 1 documents: at most `limit` of them means this
    is the last page, so the total is offset + len(items). An empty page past the end proves
    nothing (the count is needed to say how many there are).
    """
    if len(items) <= limit and (items or offset == 0):
        return offset + len(items)
    return None


async def read_page(query: Any, count: Any, limit: int, offset: int) -> tuple[list[Any], int]:
    """One page from a Beanie query in one round trip, plus a count only when more pages follow.

    The query asks for limit + 1 documents: the extra one says whether another page exists. On
    the last page (a catalogue that fits one page is the common case) the total is known
    without a second query; FerretDB 1.24 has no $facet to carry a count in the same command.
    """
    items = await query.skip(offset).limit(limit + 1).to_list()
    total = page_total(items, limit, offset)
    if total is None:
        total = int(await count())
    return items[:limit], total


def parse_id(raw: str) -> PydanticObjectId:
    """An ObjectId from a path segment; malformed ids are simply not found."""
    try:
        return PydanticObjectId(raw)
    except (InvalidId, TypeError) as exc:
        raise NotFound("product not found") from exc


async def list_products(limit: int, offset: int) -> Page:
    """Products in creation order, one page of them.

    Read as plain documents, without Beanie's document models: a page is only shown, never
    written back, and building 50 documents cost more CPU than the rest of the request.
    """
    collection = Product.get_pymongo_collection()
    items, total = await read_page(
        collection.find({}, sort=[("_id", 1)]),
        lambda: collection.count_documents({}),
        limit,
        offset,
    )
    return Page(items, total)


async def get_product(raw_id: str) -> Product:
    """One product by id; 404 when unknown or malformed."""
    product = await Product.get(parse_id(raw_id))
    if product is None:
        raise NotFound("product not found")
    return product


async def create_product(data: ProductIn) -> Product:
    """Insert a product from declared fields only."""
    product = Product(**data.model_dump())
    await product.insert()
    return product


def version_condition(if_match: IfMatch | None) -> Condition:
    """The condition that lets a write land only on a version If-Match names (none for `*`/absent).

    A document stored before versions existed has no `version` field; it is version 0.
    """
    if if_match is None or if_match.versions is None:
        return ALWAYS
    return one_of("version", if_match.versions, missing=0)


def _stale(product: dict[str, Any], if_match: IfMatch | None) -> PreconditionFailed | None:
    """The 412 for a stored product whose version If-Match does not name, else None."""
    version = int(product.get("version", 0))
    if if_match is None or if_match.versions is None or version in if_match.versions:
        return None
    return PreconditionFailed(
        f"the product changed since it was read: its version is now {version};"
        " read it again (GET /products/{id}) and retry with its ETag",
        current_version=version,
        etag=entity_tag(version),
    )


def _out_of_range(product: dict[str, Any], delta: int) -> StockOutOfRange | None:
    """The 409 for a stock that `delta` would take below 0 or above MAX_STOCK, else None."""
    stock = int(product["stock"])
    if delta < 0 and stock + delta < 0:
        limit = "below 0"
    elif delta > 0 and stock + delta > MAX_STOCK:
        limit = f"above {MAX_STOCK}"
    else:
        return None
    return StockOutOfRange(
        f"stock is {stock}; a change of {delta:+d} would take it {limit}", current_stock=stock
    )


Refusal = Callable[[dict[str, Any]], DomainError | None]


async def _write(
    product_id: PydanticObjectId,
    condition: Condition,
    changes: dict[str, Any],
    mode: StockWrites,
    refusal: Refusal,
) -> Product:
    """Apply one conditional update (`changes`, version +1, updated_at now) under the lease.

    The lease's fence is part of the condition: a writer whose lease was taken over writes
    nothing. When the condition does not hold, the product as it is now (read under the same
    lease) says why: `refusal` turns it into the error to answer (404 if the product is gone). If
    the product has meanwhile changed so that the condition holds (possible on MongoDB, where
    orders take stock without a lease), the write is tried again, a bounded number of times.
    """
    collection = Product.get_pymongo_collection()
    update = {
        **changes,
        "$inc": {**changes.get("$inc", {}), "version": 1},
        "$set": {**changes.get("$set", {}), "updated_at": utc_now()},
    }
    for _ in range(_ATTEMPTS):
        async with stock_guard(product_id, mode) as fence:
            raw = await update_if(
                collection, product_id, condition & fence, update, mode, after=True
            )
            current = None if raw is not None else await collection.find_one({"_id": product_id})
        if raw is not None:
            written: Product = Product.model_validate(raw)
            return written
        if current is None:
            raise NotFound("product not found")
        if not fence.holds(current):
            raise ProductBusy("the product is busy; try again")
        error = refusal(current)
        if error is not None:
            raise error
    raise ProductBusy("the product kept changing during the write; try again")


async def replace_product(
    product: Product, data: ProductReplace, mode: StockWrites, if_match: IfMatch | None
) -> Product:
    """Replace a product's fields in one update; stock only against the version it was read at.

    An absolute stock from a stale read would bring back the units sold since, so a body with
    `stock` needs If-Match naming versions (428 without; 412, nothing written, when stale).
    Without `stock` the stock is left as it is.
    """
    if data.stock is not None and (if_match is None or not if_match.names_versions):
        raise PreconditionRequired(
            "a write of stock needs If-Match with the product's ETag from GET /products/{id}"
            " (or change the stock by a delta: PATCH /products/{id}/stock)"
        )
    fields = data.model_dump(exclude={"stock"} if data.stock is None else set())
    return await _write(
        cast(PydanticObjectId, product.id),
        version_condition(if_match),
        {"$set": fields},
        mode,
        lambda current: _stale(current, if_match),
    )


async def adjust_stock(
    product: Product, delta: int, mode: StockWrites, if_match: IfMatch | None
) -> Product:
    """Add `delta` units (negative removes) with one atomic `$inc` that stays within 0-MAX_STOCK.

    A change that would leave the range is a 409 with the current stock; nothing is written.
    """
    bound = ALWAYS
    if delta < 0:
        bound = at_least("stock", -delta)
    elif delta > 0:
        bound = at_most("stock", MAX_STOCK - delta)
    return await _write(
        cast(PydanticObjectId, product.id),
        bound & version_condition(if_match),
        {"$inc": {"stock": delta}},
        mode,
        lambda current: _stale(current, if_match) or _out_of_range(current, delta),
    )


async def delete_product(product: Product) -> None:
    """Delete a product; 404 if someone else deleted it first."""
    result = await Product.get_pymongo_collection().delete_one({"_id": product.id})
    if result.deleted_count != 1:
        raise NotFound("product not found")
