"""Product bodies: what an admin may write, and what anyone can read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from api_service.models import Product
from api_service.schemas.base import MAX_STOCK, Cents, InputModel, OutputModel, WholeNumber


class ProductFields(InputModel):
    """What describes a product: name, description and price."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=2_000)] = ""
    price: Cents


class ProductIn(ProductFields):
    """A full product as written by POST."""

    stock: Annotated[WholeNumber, Field(ge=0, le=MAX_STOCK)]


class ProductReplace(ProductFields):
    """A product as written by PUT: every field replaced; stock only when given (with If-Match)."""

    stock: Annotated[WholeNumber, Field(ge=0, le=MAX_STOCK)] | None = None


class StockAdjustment(InputModel):
    """A relative stock change: units added (positive) or removed (negative)."""

    delta: Annotated[WholeNumber, Field(ge=-MAX_STOCK, le=MAX_STOCK)]


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
