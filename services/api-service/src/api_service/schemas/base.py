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


# Marks an int as JSON Schema's integer (an int, or a float with no fractional part; no strings,
# no booleans). It goes LAST in `Annotated`, after `Field(strict=True, ge=..., le=...)`: bounds
# declared on the int itself are published as JSON Schema's `minimum`/`maximum`, whereas bounds
# declared on top of this validator are wrapped around it, and Pydantic then publishes them under
# its own names (`ge`/`le`), which no JSON Schema client reads.
JSON_INTEGER = BeforeValidator(_json_integer)

Cents = Annotated[
    int, Field(strict=True, ge=0, le=MAX_PRICE_CENTS, description="integer cents"), JSON_INTEGER
]
Stock = Annotated[int, Field(strict=True, ge=0, le=MAX_STOCK), JSON_INTEGER]
StockDelta = Annotated[int, Field(strict=True, ge=-MAX_STOCK, le=MAX_STOCK), JSON_INTEGER]
Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_QTY), JSON_INTEGER]
ObjectIdStr = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{24}$", description="24 hex digits")]

# The characters InputModel strips from both ends of every string (pydantic-core trims with Rust's
# `char::is_whitespace`, Unicode's White_Space set), as the body of a regular expression class.
_SPACE = r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def kept_length_pattern(min_length: int) -> str:
    """A pattern: at least min_length characters are left once surrounding whitespace is stripped.

    InputModel strips before it checks lengths, so `minLength: 8` alone would promise that eight
    spaces are a valid password; with this pattern the published schema refuses them too.
    """
    if min_length == 1:
        return f"[^{_SPACE}]"
    return rf"[^{_SPACE}][\s\S]{{{min_length - 2},}}[^{_SPACE}]"


class InputModel(BaseModel):
    """A request body: declared fields only, no type coercion surprises."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=False, str_strip_whitespace=True
    )


class OutputModel(BaseModel):
    """A response body, serialised with camelCase names."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
