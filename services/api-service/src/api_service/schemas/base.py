"""Base models: camelCase on the wire, strict inputs that reject unknown fields."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

MAX_PRICE_CENTS = 100_000_000  # one million in the currency's main unit
MAX_STOCK = 1_000_000
MAX_QTY = 1_000


def _json_integer(value: object) -> object:
    """JSON Schema's `integer`: 14 and 14.0 are the same number, so 14.0 is accepted as 14.

    JSON has one number type and JSON Schema calls any number with a zero fractional part an
    integer; the published schema says `integer`, so the validation agrees with it. 14.5, "14"
    and true are still refused (strict int after this step).
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# A whole number: an int, or a float with no fractional part; no strings, no booleans.
WholeNumber = Annotated[int, BeforeValidator(_json_integer), Field(strict=True)]
Cents = Annotated[WholeNumber, Field(ge=0, le=MAX_PRICE_CENTS, description="integer cents")]
ObjectIdStr = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{24}$", description="24 hex digits")]


class InputModel(BaseModel):
    """A request body: declared fields only, no type coercion surprises."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=False, str_strip_whitespace=True
    )


class OutputModel(BaseModel):
    """A response body, serialised with camelCase names."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
