"""ASGI middleware: request id, access log line and security headers on every response."""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from client_service.context import (
    REQUEST_ID_HEADER,
    client_address_var,
    new_request_id,
    request_id_var,
)

log = logging.getLogger("client_service.access")

# No script runs on these pages, so the policy allows none; styles come from our own origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

# Sent only when cookies are Secure, i.e. the shop is served over HTTPS.
HSTS = "max-age=31536000; includeSubDomains"


class RequestContextMiddleware:
    """Give each request an id, note its visitor's address, log one line, add security headers."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        token = request_id_var.set(request_id)
        client = scope.get("client")
        address_token = client_address_var.set(client[0] if client else None)
        started = time.perf_counter()
        status = 500
        started_response = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", HSTS)
                if not scope["path"].startswith("/static/"):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Logged with its traceback for operators; the visitor gets a plain page.
            log.exception("unhandled error")
            if started_response:
                raise
            await _send_internal_error(send_with_headers)
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            request_id_var.reset(token)
            client_address_var.reset(address_token)


INTERNAL_ERROR_PAGE = (
    b"<!doctype html><html lang=en><head><meta charset=utf-8><title>MicroShop</title>"
    b'<link rel=stylesheet href="/static/style.css"></head><body><main class=card>'
    b"<h1>Something went wrong</h1><p>Please try again in a moment.</p>"
    b'<p><a href="/">Back to the shop</a></p></main></body></html>'
)


async def _send_internal_error(send: Send) -> None:
    """A 500 page with no detail of the failure."""
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(INTERNAL_ERROR_PAGE)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": INTERNAL_ERROR_PAGE})
