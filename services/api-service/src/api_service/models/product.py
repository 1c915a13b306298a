"""The products collection: name, description, integer price in cents, bounded stock, version."""

from __future__ import annotations

from datetime import datetime

from beanie import Document
from pydantic import Field

from api_service.clock import utc_now


class Product(Document):
    """A catalogue entry; stock is only changed by conditional atomic updates.

    `version` grows by one with every admin write and every stock take by an order: it is the
    product's ETag, so a write that names the version it read cannot land on a newer state.
    Documents stored before versions existed have none and read as version 0.
    """

    name: str
    description: str = ""
    price: int  # cents
    stock: int
    version: int = 0
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    # Operation ids of stock takes not yet settled (services/ledger.py); written with the stock.
    takes: list[str] = Field(default_factory=list)

    class Settings:
        name = "products"
