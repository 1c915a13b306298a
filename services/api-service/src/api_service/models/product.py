"""The products collection: name, description, integer price in cents, bounded stock."""

from __future__ import annotations

from datetime import datetime

from beanie import Document
from pydantic import Field

from api_service.clock import utc_now


class Product(Document):
    """A catalogue entry; stock is only changed by conditional atomic updates."""

    name: str
    description: str = ""
    price: int  # cents
    stock: int
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    # Operation ids of stock takes not yet settled (services/ledger.py); written with the stock.
    takes: list[str] = Field(default_factory=list)

    class Settings:
        name = "products"
