"""Database errors: what counts as the database being away, and the 503 or 500 envelope."""

from __future__ import annotations

import json

import pytest
from pymongo.errors import AutoReconnect, OperationFailure, ServerSelectionTimeoutError

from api_service.errors import database_unavailable, handle_database_error


def test_what_counts_as_the_database_being_away() -> None:
    assert database_unavailable(AutoReconnect("x"))
    assert database_unavailable(ServerSelectionTimeoutError("x"))
    assert database_unavailable(OperationFailure("x", code=50))  # MaxTimeMSExpired
    assert not database_unavailable(OperationFailure("x", code=2))
    assert not database_unavailable(ValueError("x"))


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ServerSelectionTimeoutError("no servers"), 503, "service_unavailable"),
        (OperationFailure("bad", code=2), 500, "internal_error"),
    ],
)
async def test_database_errors_become_503_or_500_envelopes(
    error: Exception, status: int, code: str
) -> None:
    response = await handle_database_error(None, error)  # type: ignore[arg-type]
    assert response.status_code == status
    assert json.loads(bytes(response.body))["error"]["code"] == code
    assert (response.headers.get("Retry-After") == "1") is (status == 503)
