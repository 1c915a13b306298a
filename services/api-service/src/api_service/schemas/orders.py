"""Order bodies: the client names products and quantities; the server prices them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, field_validator

from api_service.models import Order
from api_service.schemas.base import InputModel, ObjectIdStr, OutputModel, Quantity


class OrderItemIn(InputModel):
    """One line of an order request."""

    product_id: ObjectIdStr
    qty: Quantity


class OrderIn(InputModel):
    """An order request; lines naming the same product are added together."""

    items: Annotated[
        list[OrderItemIn],
        Field(
            min_length=1,
            max_length=50,
            description="lines naming the same productId are added together into one line",
        ),
    ]

    @field_validator("items")
    @classmethod
    def _one_line_per_product(cls, items: list[OrderItemIn]) -> list[OrderItemIn]:
        """One line per product, in first-seen order, with the quantities of its lines added.

        JSON Schema cannot say "each productId once" (uniqueItems compares whole items), so a
        body with a repeated product is valid by the published schema and the API accepts it.
        """
        lines: dict[str, OrderItemIn] = {}
        for item in items:
            key = item.product_id.lower()
            first = lines.get(key)
            lines[key] = (
                item if first is None else first.model_copy(update={"qty": first.qty + item.qty})
            )
        return list(lines.values())


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
