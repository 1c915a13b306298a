"""The stock_locks collection (one lease per product) and the takeovers of expired leases."""

from __future__ import annotations

from datetime import datetime

from beanie import Document


class StockLock(Document):
    """A lease on one product; _id is the product id, so taking it is an atomic unique insert."""

    id: str  # type: ignore[assignment]  # the product id, not an ObjectId
    owner: str
    expires_at: datetime  # database time

    class Settings:
        name = "stock_locks"


class LeaseTakeover(Document):
    """Claims the removal of one expired lease: _id "<product id>/<owner>", a unique insert.

    Only the process whose insert succeeds removes that lease, so two processes cannot both
    remove it and one of them then delete the other's fresh lease.
    """

    id: str  # type: ignore[assignment]
    product_id: str
    owner: str  # the expired lease's owner, fenced out of the product
    at: datetime  # database time

    class Settings:
        name = "stock_lease_takeovers"
