"""The current request's id, shared by the middleware, the logs and the API client."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
_VALID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_request_id(incoming: str | None) -> str:
    """Keep a well-formed incoming id (so a trace spans services); otherwise make a new one."""
    if incoming and _VALID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request being served, if any."""
    return request_id_var.get()
