"""ASGI middleware: request id, access log, metrics, security headers, 500s, body size limit."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import pymongo
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_service.api.metrics import Metrics
from api_service.errors import error_response
from api_service.logs import set_request_id

access_log = logging.getLogger("api_service.access")
logger = logging.getLogger(__name__)

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-site",
}
# Encoded once: every response gets them (those the route did not set) as raw ASGI headers.
_SECURITY_RAW = tuple(
    (name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()
)
_REQUEST_ID_RAW = b"x-request-id"
_NO_STORE_RAW = (b"cache-control", b"no-store")
NO_STORE_PREFIXES = ("/auth/", "/orders")


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContextMiddleware:
    """Outermost layer: binds a request id and answers every request with the same headers."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        set_request_id(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        path: str = scope["path"]

        no_store = path.startswith(NO_STORE_PREFIXES)
        replaced = {_REQUEST_ID_RAW, _NO_STORE_RAW[0]} if no_store else {_REQUEST_ID_RAW}
        own = [(_REQUEST_ID_RAW, request_id.encode()), *([_NO_STORE_RAW] if no_store else [])]

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                raw = [h for h in message.get("headers", ()) if h[0].lower() not in replaced]
                present = {name.lower() for name, _ in raw}
                raw += own
                raw += [header for header in _SECURITY_RAW if header[0] not in present]
                message["headers"] = raw
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error")
            if response_started:
                raise
            status = 500
            response = error_response(500, "internal_error", "internal server error")
            await response(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - started
            route = _route_template(scope)
            self.metrics.observe(scope["method"], route, status, seconds)
            if access_log.isEnabledFor(logging.INFO):  # nothing is built when the level is off
                access_log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": path,
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                        "client": (scope.get("client") or ("-", 0))[0],
                    },
                )


class EnvelopeCORSMiddleware(CORSMiddleware):
    """Starlette's CORS allow-list, with refused preflights in the same error envelope."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        return error_response(400, "cors_rejected", bytes(response.body).decode())


class BodyLimitMiddleware:
    """Refuse request bodies over max_bytes with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            response = error_response(
                413, "payload_too_large", f"request body is larger than {self.max_bytes} bytes"
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, f"request body is larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)


class DatabaseDeadlineMiddleware:
    """Every database operation of a request shares one deadline (PyMongo's client-side timeout).

    Past it PyMongo raises a timeout error, which the error handler answers with 503: a request
    never waits longer than this for a database that is down or restarting.
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with pymongo.timeout(self.seconds):
            await self.app(scope, receive, send)
