"""Beanie documents stored in MongoDB."""

from api_service.models.order import (
    Order,
    OrderLine,
    OrderStatus,
    Outcome,
    RequestedLine,
    ensure_order_indexes,
)
from api_service.models.product import Product
from api_service.models.stock_lock import LeaseTakeover, StockLock
from api_service.models.user import Role, User

DOCUMENT_MODELS = [User, Product, Order, StockLock, LeaseTakeover]

__all__ = [
    "DOCUMENT_MODELS",
    "LeaseTakeover",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Outcome",
    "Product",
    "RequestedLine",
    "Role",
    "StockLock",
    "User",
    "ensure_order_indexes",
]
