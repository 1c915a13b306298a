"""The error envelope's schema and the error responses each route documents in the OpenAPI."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


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


class ErrorEnvelope(BaseModel):
    """Every error the API answers: {"error": {...}}."""

    error: ErrorBody


DESCRIPTIONS = {
    400: "The body could not be parsed (for example, not UTF-8)",
    401: "Missing, invalid or expired bearer token, or an account that no longer exists",
    403: "Signed in, but this needs an admin account",
    404: "Not found (unknown or malformed id)",
    409: "Conflicts with the current state (email taken, not enough stock)",
    413: "Request body larger than MAX_BODY_BYTES",
    422: "Request validation failed (details name the fields)",
    429: "Too many attempts from this client (or failed ones on this account); see Retry-After",
    503: (
        "The database is not reachable or did not answer in time (or a product is busy, or"
        " password checks are saturated); retry after Retry-After"
    ),
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with the envelope's schema."""
    return {code: {"model": ErrorEnvelope, "description": DESCRIPTIONS[code]} for code in codes}
