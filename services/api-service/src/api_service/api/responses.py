"""The error envelope's schema, the error responses each route documents, and JSON bodies.

`json_body` is for the hot read routes. A route that returns its schema object has FastAPI
validate it again, turn it into Python dicts and lists, and encode those with the standard
library's json; a response made by `json_body` skips all three: the schema's own serializer
(pydantic-core, in Rust) writes the same bytes in one step. Such a route keeps
`response_model`, so the OpenAPI document does not change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter
from starlette.responses import Response


class ValidationDetail(BaseModel):
    """Where and why a request failed validation (the input itself is never echoed)."""

    loc: list[str]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """A stable machine-readable code, a sentence for people, and the request id."""

    code: str = Field(examples=["out_of_stock"])
    message: str
    request_id: str
    details: list[ValidationDetail] | None = Field(default=None, description="422 only")
    current_version: int | None = Field(
        default=None, description="412 only: the product's version now (its ETag, unquoted)"
    )
    current_stock: int | None = Field(
        default=None, description="409 stock_out_of_range only: the product's stock now"
    )


class ErrorEnvelope(BaseModel):
    """Every error the API answers: {"error": {...}}."""

    error: ErrorBody


DESCRIPTIONS = {
    400: "The body could not be parsed (for example, not UTF-8), or a malformed header",
    401: "Missing, invalid or expired bearer token, or an account that no longer exists",
    403: "Signed in, but this needs an admin account",
    404: "Not found (unknown or malformed id)",
    409: "Conflicts with the current state (email taken, not enough stock, a stock change out of"
    " range)",
    412: "If-Match names a version that is no longer current; nothing was written (the ETag"
    " header and current_version give the version now)",
    413: "Request body larger than MAX_BODY_BYTES",
    422: "Request validation failed (details name the fields)",
    428: "This write needs If-Match with the version it was read at (the ETag of a GET)",
    429: "Too many attempts from this client (or failed ones on this account); see Retry-After",
    503: (
        "The database is not reachable or did not answer in time (or a product is busy, or"
        " password checks are saturated); retry after Retry-After"
    ),
}


ETAG_HEADER = {
    "ETag": {
        "description": 'The product\'s version as a strong entity tag, e.g. "3"',
        "required": True,
        "schema": {"type": "string", "pattern": '^"(0|[1-9][0-9]*)"$'},
    }
}
HEADERS = {412: ETAG_HEADER}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with the envelope's schema."""
    return {
        code: {"model": ErrorEnvelope, "description": DESCRIPTIONS[code]}
        | ({"headers": HEADERS[code]} if code in HEADERS else {})
        for code in codes
    }


def with_etag(code: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entry for a success that carries the product's ETag."""
    return {code: {"headers": ETAG_HEADER}}


class JSONBody(Response):
    """A JSON response whose body is already encoded."""

    media_type = "application/json"


def json_body(
    adapter: TypeAdapter[Any], value: Any, headers: Mapping[str, str] | None = None
) -> JSONBody:
    """value as the schema's camelCase JSON, with headers."""
    return JSONBody(adapter.dump_json(value, by_alias=True), headers=headers)
