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


def test_ferretdbs_answer_to_a_command_past_its_deadline_is_a_timeout() -> None:
    """FerretDB 1.24 stops a findAndModify at its maxTimeMS with code 1 and this message."""
    message = (
        "[msg_findandmodify.go:196 handler.(*Handler).findAndModifyDocument] [update.go:59"
        " common.UpdateDocument] [query_iterator.go:79 sqlite.(*queryIterator).Next] context"
        " canceled after delay"
    )
    assert database_unavailable(OperationFailure(message, code=1))
    assert not database_unavailable(OperationFailure("something else broke", code=1))


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
