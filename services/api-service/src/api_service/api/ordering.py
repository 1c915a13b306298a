"""What POST /orders needs besides its body: the Idempotency-Key header and the order timing."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Request

from api_service.errors import BadRequest
from api_service.services.settle import Timing

HEADER = "Idempotency-Key"
_KEY = r"[A-Za-z0-9._:-]{8,128}"
# The bare form, or the quoted form of a Structured Field string (the IETF draft's spelling).
KEY_PATTERN = re.compile(rf'^(?:{_KEY}|"{_KEY}")$')

# Documented in the OpenAPI as a required header; the dependency below enforces it, so a
# missing or malformed key is a 400 that names the header (not a generic 422).
OPENAPI_PARAMETER: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": True,
    "description": (
        "A key per order form (8-128 of A-Z a-z 0-9 . _ : -, e.g. a UUID), unique per user: "
        "the same key sent again returns the first outcome instead of placing a second order"
    ),
    "schema": {"type": "string", "pattern": KEY_PATTERN.pattern},
}


def idempotency_key(request: Request) -> str:
    """The request's Idempotency-Key (quotes removed); 400 naming the header otherwise."""
    values = request.headers.getlist(HEADER)
    if not values:
        raise BadRequest(f"the {HEADER} header is required: send a new key for each order")
    if len(values) > 1 or not KEY_PATTERN.fullmatch(values[0]):
        raise BadRequest(
            f"the {HEADER} header must be one value of 8-128 characters from "
            "A-Z a-z 0-9 . _ : - (a UUID will do)"
        )
    return values[0].strip('"')


def order_timing(request: Request) -> Timing:
    """How long a request works on its order before others may settle it (from the settings)."""
    timing: Timing = request.app.state.order_timing
    return timing


IdempotencyKey = Annotated[str, Depends(idempotency_key)]
OrderTiming = Annotated[Timing, Depends(order_timing)]
