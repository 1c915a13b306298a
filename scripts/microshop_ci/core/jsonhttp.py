"""The base of the pipeline's loopback HTTP services: quiet, each answer one JSON body."""

from __future__ import annotations

import json
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing (its callers report what matters) and answers JSON.

    Subclasses name BaseHTTPRequestHandler among their bases too, so that the linter knows their
    do_GET and do_POST are the standard library's names.
    """

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the client's own report says what went wrong."""

    def _send(self, status: HTTPStatus | int, payload: Any) -> None:
        """Answer status with payload as one line of JSON."""
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
