"""What the storefront reads from the API, tolerant of field spellings (camelCase or snake_case)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

_READ = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

Id = Annotated[str, Field(validation_alias=AliasChoices("id", "_id"), min_length=1)]
Cents = Annotated[int, Field(ge=0)]


class User(BaseModel):
    """The signed-in person as the API describes them."""

    model_config = _READ

    id: Id
    email: str
    role: str = "user"


class AuthResult(BaseModel):
    """The answer to register and login: a bearer token and its user."""

    model_config = _READ

    token: Annotated[str, Field(validation_alias=AliasChoices("token", "access_token"))]
    user: User


class Product(BaseModel):
    """One product of the catalogue; prices are integer cents."""

    model_config = _READ

    id: Id
    name: str
    description: str = ""
    price: Annotated[
        Cents, Field(validation_alias=AliasChoices("price", "priceCents", "price_cents"))
    ]
    stock: int | None = None


class OrderLine(BaseModel):
    """One line of an order, priced by the API."""

    model_config = _READ

    product_id: Annotated[str, Field(validation_alias=AliasChoices("productId", "product_id"))]
    name: str | None = None
    qty: Annotated[int, Field(validation_alias=AliasChoices("qty", "quantity"), ge=1)]
    unit_price: Annotated[
        Cents | None,
        Field(
            validation_alias=AliasChoices(
                "price", "unitPrice", "unit_price", "priceCents", "unitPriceCents"
            )
        ),
    ] = None
    line_total: Annotated[
        Cents | None, Field(validation_alias=AliasChoices("lineTotal", "line_total"))
    ] = None


class Order(BaseModel):
    """An order as the API stored it, with the server-computed total."""

    model_config = _READ

    id: Id
    items: list[OrderLine]
    total: Annotated[
        Cents, Field(validation_alias=AliasChoices("total", "totalCents", "total_cents"))
    ]
    status: str | None = None
    created_at: Annotated[
        datetime | None, Field(validation_alias=AliasChoices("createdAt", "created_at"))
    ] = None
