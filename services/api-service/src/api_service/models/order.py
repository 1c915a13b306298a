"""The orders collection: lines priced by the server, indexed by user and time."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import IndexModel

from api_service.clock import utc_now


class OrderLine(BaseModel):
    """One product in an order, with the unit price taken when the stock was taken."""

    product_id: PydanticObjectId
    name: str
    qty: int
    unit_price: int  # cents
    line_total: int  # cents


class Order(Document):
    """A placed order; total is the sum of the line totals, in cents."""

    user_id: PydanticObjectId
    items: list[OrderLine]
    total: int  # cents
    created_at: datetime = Field(default_factory=utc_now)

    class Settings:
        name = "orders"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel(
                [("user_id", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)],
                name="user_newest_first",
            )
        ]
