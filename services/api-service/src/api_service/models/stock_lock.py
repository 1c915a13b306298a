"""The stock_locks collection: one short lease per product while its stock is being changed."""

from __future__ import annotations

from datetime import datetime

from beanie import Document


class StockLock(Document):
    """A lease on one product; _id is the product id, so taking it is an atomic unique insert."""

    id: str  # type: ignore[assignment]  # the product id, not an ObjectId
    owner: str
    expires_at: datetime

    class Settings:
        name = "stock_locks"
