"""Beanie documents stored in MongoDB."""

from api_service.models.order import Order, OrderLine
from api_service.models.product import Product
from api_service.models.stock_lock import StockLock
from api_service.models.user import Role, User

DOCUMENT_MODELS = [User, Product, Order, StockLock]

__all__ = ["DOCUMENT_MODELS", "Order", "OrderLine", "Product", "Role", "StockLock", "User"]
