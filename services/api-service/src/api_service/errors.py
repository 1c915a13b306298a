"""Domain errors and the one handler that turns every error into the same JSON envelope."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api_service.logs import current_request_id

logger = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


class DomainError(Exception):
    """An error a client caused or can act on; carries its HTTP status and a stable code."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(
        self, message: str, headers: dict[str, str] | None = None, **extra: int | str
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        self.extra = extra  # more fields of the envelope, e.g. current_version on a 412


class BadRequest(DomainError):  # noqa: N818 - names from the HTTP vocabulary
    """A request the API cannot read (e.g. a malformed header); the message names the part."""


class Unauthorized(DomainError):  # noqa: N818 - names from the HTTP vocabulary
    """No credentials, or credentials that do not prove who the caller is."""

    status = 401
    code = "unauthorized"

    def __init__(self, message: str = "missing or invalid credentials") -> None:
        super().__init__(message, {"WWW-Authenticate": "Bearer"})


class Forbidden(DomainError):  # noqa: N818 - names from the HTTP vocabulary
    """The caller is known but may not do this."""

    status = 403
    code = "forbidden"


class NotFound(DomainError):  # noqa: N818 - names from the HTTP vocabulary
    """The resource does not exist (or its id is malformed)."""

    status = 404
    code = "not_found"


class Conflict(DomainError):  # noqa: N818 - names from the HTTP vocabulary
    """The request clashes with the current state (e.g. an email already registered)."""

    status = 409
    code = "conflict"


class OutOfStock(Conflict):
    """Not enough stock left for an order item."""

    code = "out_of_stock"


class OrderInProgress(Conflict):
    """An order with this Idempotency-Key is still being placed; ask again after Retry-After."""

    code = "order_in_progress"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, {"Retry-After": str(retry_after)})


class IdempotencyKeyReused(DomainError):  # noqa: N818 - names from the HTTP vocabulary
    """An Idempotency-Key sent again with a different body."""

    status = 422
    code = "idempotency_key_reused"


class StockOutOfRange(Conflict):
    """A stock adjustment that would take the stock below 0 or above its bound."""

    code = "stock_out_of_range"

    def __init__(self, message: str, current_stock: int) -> None:
        super().__init__(message, current_stock=current_stock)


class PreconditionFailed(DomainError):  # noqa: N818 - names from the HTTP vocabulary
    """If-Match named a version that is no longer current; nothing was written."""

    status = 412
    code = "precondition_failed"

    def __init__(self, message: str, current_version: int, etag: str) -> None:
        super().__init__(message, {"ETag": etag}, current_version=current_version)


class PreconditionRequired(DomainError):  # noqa: N818 - names from the HTTP vocabulary
    """A write that is only safe against the version it was read at came without If-Match."""

    status = 428
    code = "precondition_required"


class TooManyRequests(DomainError):  # noqa: N818 - names from the HTTP vocabulary
    """Too many attempts; retry after the given number of seconds."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, {"Retry-After": str(retry_after)})


class ServiceUnavailable(DomainError):  # noqa: N818 - names from the HTTP vocabulary
    """A dependency (the database) is not answering."""

    status = 503
    code = "service_unavailable"


class PasswordChecksBusy(ServiceUnavailable):
    """Every password-hashing slot of this process is taken (running or waiting); retry soon."""

    def __init__(self) -> None:
        super().__init__(
            "too many sign-ins and registrations at once; try again in a second",
            {"Retry-After": "1"},
        )


class ProductBusy(ServiceUnavailable):
    """Another writer held the product's lease (or this process's queue for it) too long."""


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """Build the envelope: {"error": {"code", "message", "request_id", ...}}."""
    body: dict[str, Any] = {"code": code, "message": message, "request_id": current_request_id()}
    body.update(extra)
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Where and why validation failed, without echoing the input (it may be a password)."""
    return [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]


async def handle_error(request: Request, exc: Exception) -> JSONResponse:
    """The one handler: domain errors, HTTP errors (404/405/413) and validation errors."""
    if isinstance(exc, DomainError):
        return error_response(exc.status, exc.code, exc.message, exc.headers, **exc.extra)
    if isinstance(exc, RequestValidationError):
        return error_response(
            422, "validation_error", "request validation failed", details=_validation_details(exc)
        )
    http_exc = exc if isinstance(exc, StarletteHTTPException) else StarletteHTTPException(500)
    status = http_exc.status_code
    message = http_exc.detail if isinstance(http_exc.detail, str) else HTTPStatus(status).phrase
    code = HTTP_CODES.get(status, "error")
    headers = dict(http_exc.headers or {})
    if status == 405:
        headers["Allow"] = allowed_methods(request)
    return error_response(status, code, message, headers)


def allowed_methods(request: Request) -> str:
    """The `Allow` value of a 405: every method of every route whose path matches the request.

    Starlette's router answers 405 from the first route whose path matches, so its `Allow` names
    only that route's methods; FastAPI declares one route per method (GET and POST on /products
    are two routes), and RFC 9110 wants the full set. Written here because neither framework
    offers it.
    """
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


# FerretDB 1.24 answers a command stopped by its maxTimeMS with code 1 (InternalError) and this
# text, not MongoDB's code 50 (MaxTimeMSExpired), which PyMongo already counts as a timeout.
FERRETDB_DEADLINE = ("context canceled", "context deadline exceeded")


AUTHENTICATION_FAILED = 18  # MongoDB's and FerretDB's code for refused credentials


def authentication_failed(exc: BaseException) -> bool:
    """The database refused the credentials (a rotated password, typically)."""
    return isinstance(exc, OperationFailure) and exc.code == AUTHENTICATION_FAILED


def database_unavailable(exc: BaseException) -> bool:
    """The database did not answer (down, restarting, unreachable, or past the deadline)."""
    if isinstance(exc, OperationFailure) and exc.code == 1:
        return any(text in str(exc) for text in FERRETDB_DEADLINE)
    return isinstance(exc, ConnectionFailure) or (isinstance(exc, PyMongoError) and exc.timeout)


async def handle_database_error(request: Request, exc: Exception) -> JSONResponse:
    """503 (retry shortly) when the database is away or refused a rotated password (the client
    is renewed from the password file); any other database error is a 500."""
    if authentication_failed(exc):
        renewed = await request.app.state.database.renew()
        logger.warning("database refused the credentials (renewed: %s)", renewed)
        return error_response(
            503,
            "service_unavailable",
            "the database refused the service's credentials; try again",
            {"Retry-After": "1"},
        )
    if database_unavailable(exc):
        logger.warning("database unavailable: %s", type(exc).__name__)
        return error_response(
            503,
            "service_unavailable",
            "the database is not reachable; try again",
            {"Retry-After": "1"},
        )
    logger.error("database error", exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error class through handle_error, and database errors to 503 or 500."""
    for exc_class in (DomainError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(exc_class, handle_error)
    app.add_exception_handler(PyMongoError, handle_database_error)
