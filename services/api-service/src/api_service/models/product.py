"""The products collection: name, description, integer price in cents, bounded stock."""

from __future__ import annotations

from datetime import UTC, datetime

from beanie import Document
from pydantic import Field


class Product(Document):
    """A catalogue entry; stock is only changed by conditional atomic updates."""

    name: str
    description: str = ""
    price: int  # cents
    stock: int
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    class Settings:
        name = "products"
