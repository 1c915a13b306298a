"""Product bodies: what an admin may write, and what anyone can read."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from api_service.clock import utc_now
from api_service.models import Product
from api_service.schemas.base import (
    Cents,
    InputModel,
    OutputModel,
    Stock,
    StockDelta,
    kept_length_pattern,
)


class ProductFields(InputModel):
    """What describes a product: name, description and price."""

    name: Annotated[str, Field(min_length=1, max_length=200, pattern=kept_length_pattern(1))]
    description: Annotated[str, Field(max_length=2_000)] = ""
    price: Cents


class ProductIn(ProductFields):
    """A full product as written by POST."""

    stock: Stock


class ProductReplace(ProductFields):
    """A product as written by PUT: every field replaced; stock only when given (with If-Match)."""

    stock: Stock | None = None


class StockAdjustment(InputModel):
    """A relative stock change: units added (positive) or removed (negative)."""

    delta: StockDelta


class ProductOut(OutputModel):
    """A product; price is in integer cents."""

    id: str
    name: str
    description: str
    price: int
    stock: int
    created_at: datetime
    updated_at: datetime


class Deleted(OutputModel):
    """The answer to a DELETE."""

    id: str
    deleted: bool = True


def product_out(product: Product) -> ProductOut:
    """The response form of a stored product."""
    return ProductOut(
        id=str(product.id),
        name=product.name,
        description=product.description,
        price=product.price,
        stock=product.stock,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


def stored_product_out(doc: Mapping[str, Any]) -> ProductOut:
    """The response form of a product document as stored, with the Product model's defaults."""
    now = utc_now()
    return ProductOut(
        id=str(doc["_id"]),
        name=doc["name"],
        description=doc.get("description", ""),
        price=doc["price"],
        stock=doc["stock"],
        created_at=doc.get("created_at", now),
        updated_at=doc.get("updated_at", now),
    )
