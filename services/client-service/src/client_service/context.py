"""The current request's id and visitor address, shared by the middleware, logs and API client."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
_VALID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
client_address_var: ContextVar[str | None] = ContextVar("client_address", default=None)


def new_request_id(incoming: str | None) -> str:
    """Keep a well-formed incoming id (so a trace spans services); otherwise make a new one."""
    if incoming and _VALID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request being served, if any."""
    return request_id_var.get()


def current_client_address() -> str | None:
    """The visitor's address for the request being served (past trusted proxies), if any."""
    return client_address_var.get()
