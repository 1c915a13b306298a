"""One place that turns errors into pages: API down, API refusals, CSRF, unknown pages."""

from __future__ import annotations

import logging
from typing import cast
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from client_service.errors import (
    ApiBadGatewayError,
    ApiError,
    ApiRejectedError,
    ApiUnavailableError,
    NotFoundError,
)
from client_service.web import CsrfError, SignInRequiredError, render

log = logging.getLogger(__name__)

TITLES = {
    400: "That request was not understood",
    403: "This form has expired",
    404: "Not found",
    405: "Not allowed",
    502: "The shop is having trouble",
    503: "The shop is temporarily unavailable",
}


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """The error page: a title, a sentence for the visitor, the request id for support."""
    title = TITLES.get(status, "Something went wrong")
    context = {"title": title, "message": message, "status": status}
    return render(request, "error.html", context, status_code=status)


async def _api_unavailable(request: Request, exc: Exception) -> Response:
    exc = cast(ApiError, exc)
    log.warning("api unavailable", extra={"status": exc.status, "code": exc.code})
    status = 502 if isinstance(exc, ApiBadGatewayError) else 503
    return error_page(request, status, "We cannot reach the shop right now. Please try again soon.")


async def _api_rejected(request: Request, exc: Exception) -> Response:
    exc = cast(ApiRejectedError, exc)
    if isinstance(exc, NotFoundError):
        return error_page(request, 404, "We could not find that product.")
    return error_page(request, exc.status, exc.message)


async def _csrf(request: Request, exc: Exception) -> Response:
    log.warning("csrf token missing or wrong", extra={"path": request.url.path})
    return error_page(
        request, 403, "The form was stale or did not come from this shop. Please try again."
    )


async def _sign_in(request: Request, exc: Exception) -> Response:
    exc = cast(SignInRequiredError, exc)
    return RedirectResponse("/signin?" + urlencode({"next": exc.next_path}), status_code=303)


async def _http(request: Request, exc: Exception) -> Response:
    exc = cast(StarletteHTTPException, exc)
    message = "There is no page here." if exc.status_code == 404 else str(exc.detail)
    return error_page(request, exc.status_code, message)


async def _invalid(request: Request, exc: Exception) -> Response:
    exc = cast(RequestValidationError, exc)
    fields = sorted({str(error["loc"][-1]) for error in exc.errors() if error.get("loc")})
    return error_page(request, 400, "Please check these fields: " + ", ".join(fields) + ".")


def install_handlers(app: FastAPI) -> None:
    """Register every handler on the app."""
    app.add_exception_handler(ApiUnavailableError, _api_unavailable)
    app.add_exception_handler(ApiBadGatewayError, _api_unavailable)
    app.add_exception_handler(ApiRejectedError, _api_rejected)
    app.add_exception_handler(CsrfError, _csrf)
    app.add_exception_handler(SignInRequiredError, _sign_in)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _invalid)
