"""Response bodies written straight to JSON bytes by pydantic-core, for the hot read routes.

A route that returns its schema object has FastAPI validate it again, turn it into Python
dicts and lists, and encode those with the standard library's json. Returning a response made
here skips all three: the schema's own serializer (Rust) writes the same bytes in one step.
The route keeps `response_model` so the OpenAPI document does not change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter
from starlette.responses import Response


class JSONBody(Response):
    """A JSON response whose body is already encoded."""

    media_type = "application/json"


def json_body(
    adapter: TypeAdapter[Any], value: Any, headers: Mapping[str, str] | None = None
) -> JSONBody:
    """value as the schema's camelCase JSON, with headers."""
    return JSONBody(adapter.dump_json(value, by_alias=True), headers=headers)
