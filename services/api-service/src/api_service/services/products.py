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
from api_service.services.stocklock import product_lock


@dataclass(frozen=True)
class Page:
    """One page of products and the total count across all pages."""

    items: list[Product]
    total: int


def page_total(items: list[Any], limit: int, offset: int) -> int | None:
    """The total when a short page proves it (saves a count query), else None."""
    if len(items) < limit and (items or offset == 0):
        return offset + len(items)
    return None


def parse_id(raw: str) -> PydanticObjectId:
    """An ObjectId from a path segment; malformed ids are simply not found."""
    try:
        return PydanticObjectId(raw)
    except (InvalidId, TypeError) as exc:
        raise NotFound("product not found") from exc


async def list_products(limit: int, offset: int) -> Page:
    """Products in creation order, one page of them."""
    items = await Product.find_all().sort("_id").skip(offset).limit(limit).to_list()
    total = page_total(items, limit, offset)
    if total is None:
        total = await Product.find_all().count()
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


async def replace_product(product: Product, data: ProductIn) -> Product:
    """Replace every writable field of a product in one update, under the product's lease."""
    fields = {**data.model_dump(), "updated_at": utc_now()}
    async with product_lock(cast(PydanticObjectId, product.id)):
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
