"""OSV's query API (/v1/query, /v1/querybatch, /v1/vulns/{id}) on loopback, from an OsvDatabase."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from packaging.version import InvalidVersion

from microshop_ci.core.errors import MicroshopError
from microshop_ci.core.jsonhttp import JsonHandler
from microshop_ci.osv.db import ECOSYSTEM, OsvDatabase

MAX_BODY = 1 << 20
MAX_BATCH = 1000


class BadQueryError(MicroshopError, ValueError):
    """A query the service cannot answer; the message goes back to the client (HTTP 400)."""


def answer_query(db: OsvDatabase, query: Any) -> list[Any]:
    """The advisories a single OSV query asks for."""
    if not isinstance(query, dict):
        raise BadQueryError("a query must be a JSON object")
    package = query.get("package")
    if not isinstance(package, dict) or not isinstance(package.get("name"), str):
        raise BadQueryError("query.package.name is required (purl queries are not supported)")
    if package.get("ecosystem") != ECOSYSTEM:
        raise BadQueryError(
            f"this service holds {ECOSYSTEM} advisories only, not {package.get('ecosystem')!r}"
        )
    if "commit" in query:
        raise BadQueryError("commit queries are not supported: query by version")
    version = query.get("version")
    if version is not None and not isinstance(version, str):
        raise BadQueryError("query.version must be a string")
    try:
        return db.query(package["name"], version)
    except InvalidVersion:
        raise BadQueryError(f"query.version {version!r} is not a PEP 440 version") from None


class OsvHandler(JsonHandler, BaseHTTPRequestHandler):
    """Routes the three OSV endpoints; every answer is JSON (quiet: the gates' reports speak)."""

    db: ClassVar[OsvDatabase]
    server_version = "microshop-osv/1"

    def _error(self, status: HTTPStatus, message: str) -> None:
        code = 5 if status == HTTPStatus.NOT_FOUND else 3
        self._send(status, {"code": code, "message": message})

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise BadQueryError(f"request body over {MAX_BODY} bytes")
        try:
            return json.loads(self.rfile.read(length) or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadQueryError("request body is not JSON") from None

    def do_GET(self) -> None:
        """GET /v1/vulns/{id}: one advisory."""
        prefix = "/v1/vulns/"
        if not self.path.startswith(prefix):
            self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: GET {self.path}")
            return
        advisory = self.db.by_id.get(self.path[len(prefix) :])
        if advisory is None:
            self._error(HTTPStatus.NOT_FOUND, "Bug not found.")
            return
        self._send(HTTPStatus.OK, advisory)

    def _batch(self, body: Any) -> dict[str, Any]:
        queries = body.get("queries") if isinstance(body, dict) else None
        if not isinstance(queries, list) or len(queries) > MAX_BATCH:
            raise BadQueryError(f"querybatch needs a 'queries' list of at most {MAX_BATCH}")
        results: list[dict[str, Any]] = []
        for query in queries:
            vulns = answer_query(self.db, query)
            brief = [{"id": v["id"], "modified": v.get("modified")} for v in vulns]
            results.append({"vulns": brief} if brief else {})
        return {"results": results}

    def do_POST(self) -> None:
        """POST /v1/query (full advisories) and /v1/querybatch (ids and modified dates)."""
        try:
            if self.path == "/v1/query":
                vulns = answer_query(self.db, self._body())
                self._send(HTTPStatus.OK, {"vulns": vulns} if vulns else {})
            elif self.path == "/v1/querybatch":
                self._send(HTTPStatus.OK, self._batch(self._body()))
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: POST {self.path}")
        except BadQueryError as err:
            self._error(HTTPStatus.BAD_REQUEST, str(err))


def make_server(db: OsvDatabase, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server bound to host:port (port 0 picks a free one), not yet serving."""
    handler = type("BoundOsvHandler", (OsvHandler,), {"db": db})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


@contextmanager
def serve_in_thread(db: OsvDatabase) -> Iterator[str]:
    """Serve on an ephemeral loopback port for the duration; yields the base URL."""
    server = make_server(db)
    thread = threading.Thread(target=server.serve_forever, name="osv-server", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
