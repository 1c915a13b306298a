"""Structured JSON logging with a per-request id, and a filter that keeps secrets out of logs."""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

_request_id: ContextVar[str] = ContextVar("request_id", default="-")

# Defence in depth: nothing should log these, but if something does, the value is masked.
_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[REDACTED]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), "[REDACTED]"),
    (
        re.compile(r"(?i)(\"?(?:password|authorization|token|secret)\"?\s*[:=]\s*\"?)[^\s\",}]+"),
        r"\1[REDACTED]",
    ),
    (re.compile(r"(mongodb(?:\+srv)?://[^:/@\s]+:)[^@\s]+(@)"), r"\1[REDACTED]\2"),
)


def current_request_id() -> str:
    """The id of the request being handled, or "-" outside a request."""
    return _request_id.get()


def set_request_id(value: str) -> None:
    """Bind a request id to the current context (one per request task)."""
    _request_id.set(value)


def redact(text: str) -> str:
    """Mask bearer tokens, JWTs, password/token fields and URI credentials in text."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class ContextFilter(logging.Filter):
    """Add the request id to every record and redact secrets from its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(level: str) -> None:
    """Send JSON lines to stdout for our loggers and uvicorn's (its access log is replaced)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "%(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )
    )
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("pymongo").setLevel(max(logging.getLevelName(level), logging.WARNING))
