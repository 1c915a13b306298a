"""Catalogue operations: list with pagination, get, create, replace, delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from beanie import PydanticObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument

from api_service.clock import utc_now
from api_service.errors import NotFound
from api_service.models import Product
from api_service.schemas.products import ProductIn
from api_service.services.stocklock import stock_guard
from api_service.services.stockmode import StockWrites


@dataclass(frozen=True)
class Page:
    """One page of products and the total count across all pages."""

    items: list[Product]
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
    """Products in creation order, one page of them."""
    items, total = await read_page(
        Product.find_all().sort("_id"), Product.find_all().count, limit, offset
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


async def replace_product(product: Product, data: ProductIn, mode: StockWrites) -> Product:
    """Replace every writable field of a product in one update (under its lease on FerretDB)."""
    fields = {**data.model_dump(), "updated_at": utc_now()}
    async with stock_guard(cast(PydanticObjectId, product.id), mode):
        raw = await Product.get_pymongo_collection().find_one_and_update(
            {"_id": product.id}, {"$set": fields}, return_document=ReturnDocument.AFTER
        )
    if raw is None:
        raise NotFound("product not found")
    updated: Product = Product.model_validate(raw)
    return updated


async def delete_product(product: Product) -> None:
    """Delete a product; 404 if someone else deleted it first."""
    result = await Product.get_pymongo_collection().delete_one({"_id": product.id})
    if result.deleted_count != 1:
        raise NotFound("product not found")
