"""Order bodies: the client names products and quantities; the server prices them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, field_validator

from api_service.models import Order
from api_service.schemas.base import MAX_QTY, InputModel, ObjectIdStr, OutputModel, WholeNumber


class OrderItemIn(InputModel):
    """One line of an order request."""

    product_id: ObjectIdStr
    qty: Annotated[WholeNumber, Field(ge=1, le=MAX_QTY)]


class OrderIn(InputModel):
    """An order request; each product may appear once."""

    items: Annotated[list[OrderItemIn], Field(min_length=1, max_length=50)]

    @field_validator("items")
    @classmethod
    def _unique_products(cls, items: list[OrderItemIn]) -> list[OrderItemIn]:
        ids = [item.product_id.lower() for item in items]
        if len(set(ids)) != len(ids):
            raise ValueError("each productId may appear only once; put the total in qty")
        return items


class OrderLineOut(OutputModel):
    """A priced order line."""

    product_id: str
    name: str
    qty: int
    unit_price: int
    line_total: int


class OrderOut(OutputModel):
    """A placed order with its server-computed total (integer cents)."""

    id: str
    user_id: str
    items: list[OrderLineOut]
    total: int
    created_at: datetime


def order_out(order: Order) -> OrderOut:
    """The response form of a stored order."""
    return OrderOut(
        id=str(order.id),
        user_id=str(order.user_id),
        items=[
            OrderLineOut(
                product_id=str(line.product_id),
                name=line.name,
                qty=line.qty,
                unit_price=line.unit_price,
                line_total=line.line_total,
            )
            for line in order.items
        ],
        total=order.total,
        created_at=order.created_at,
    )
