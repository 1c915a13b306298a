"""The transaction retry loop against PyMongo's real error classes and labels.

No database here has transactions (FerretDB refuses them; see test_stockmode.py), so the session
is RecordedSession, a stand-in for PyMongo's AsyncClientSession that records what the loop asks
of it and answers with scripted errors built as PyMongo builds them from a server's answer. The
loop on a real MongoDB replica set is proven by the order tests in test_transactions.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pymongo import ReadPreference
from pymongo.errors import DuplicateKeyError, NetworkTimeout, OperationFailure, PyMongoError

from api_service.errors import OutOfStock
from api_service.services.txloop import run_transaction


def server_error(name: str, code: int, *labels: str) -> OperationFailure:
    """An error as PyMongo raises it from a server's answer (labels read from errorLabels)."""
    return OperationFailure(
        name, code, {"ok": 0, "errmsg": name, "code": code, "errorLabels": list(labels)}
    )


def write_conflict() -> OperationFailure:
    return server_error("WriteConflict", 112, "TransientTransactionError")


def unknown_commit(code: int = 91) -> OperationFailure:
    return server_error("ShutdownInProgress", code, "UnknownTransactionCommitResult")


@dataclass
class RecordedSession:
    """Stand-in for AsyncClientSession: records calls; body and commit errors are scripted."""

    body_errors: list[BaseException | None] = field(default_factory=list)
    commit_errors: list[BaseException | None] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    options: list[dict[str, Any]] = field(default_factory=list)
    in_transaction: bool = False

    async def start_transaction(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append("start")
        read_concern, write_concern, read_preference = args
        self.options.append({"read": read_concern.level, "write": write_concern.document,
                             "preference": read_preference, **kwargs})  # fmt: skip
        self.in_transaction = True

    async def body(self, session: RecordedSession) -> str:
        assert session is self
        self.calls.append("body")
        error = self.body_errors.pop(0) if self.body_errors else None
        if error is not None:
            raise error
        return "placed"

    async def commit_transaction(self) -> None:
        self.calls.append("commit")
        error = self.commit_errors.pop(0) if self.commit_errors else None
        if error is not None:
            raise error
        self.in_transaction = False

    async def abort_transaction(self) -> None:
        self.calls.append("abort")
        self.in_transaction = False


class Clock:
    """A clock the test moves: each reading is `now`; the deadline is at 10."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def run(session: RecordedSession, clock: Callable[[], float] | None = None) -> str:
    return await run_transaction(session, session.body, 10.0, clock or Clock())


async def test_write_conflicts_run_the_whole_transaction_again() -> None:
    session = RecordedSession(body_errors=[write_conflict(), write_conflict()])
    assert await run(session) == "placed"
    assert session.calls == ["start", "body", "abort"] * 2 + ["start", "body", "commit"]


async def test_an_unknown_commit_result_sends_only_the_commit_again() -> None:
    session = RecordedSession(commit_errors=[unknown_commit(), unknown_commit()])
    assert await run(session) == "placed"
    assert session.calls == ["start", "body", "commit", "commit", "commit"]


async def test_a_transient_commit_error_runs_the_whole_transaction_again() -> None:
    no_such = server_error("NoSuchTransaction", 251, "TransientTransactionError")
    session = RecordedSession(commit_errors=[no_such])
    assert await run(session) == "placed"
    assert session.calls == ["start", "body", "commit", "start", "body", "commit"]


@pytest.mark.parametrize(
    "error",
    [
        OutOfStock("not enough stock for product x"),
        DuplicateKeyError("E11000 duplicate key", 11000, {"code": 11000, "errmsg": "dup"}),
        server_error("Unauthorized", 13),
    ],
    ids=["domain-error", "duplicate-key", "unlabelled"],
)
async def test_any_other_error_aborts_once_and_is_raised_as_is(error: Exception) -> None:
    session = RecordedSession(body_errors=[error])
    with pytest.raises(type(error)) as raised:
        await run(session)
    assert (raised.value, session.calls) == (error, ["start", "body", "abort"])


async def test_nothing_is_retried_past_the_deadline() -> None:
    clock = Clock()
    clock.now = 10.0
    conflict = write_conflict()
    session = RecordedSession(body_errors=[conflict])
    with pytest.raises(OperationFailure) as raised:
        await run(session, clock)
    assert (raised.value, session.calls) == (conflict, ["start", "body", "abort"])
    unknown = unknown_commit()
    session = RecordedSession(commit_errors=[unknown])
    with pytest.raises(OperationFailure) as raised:
        await run(session, clock)
    assert (raised.value, session.calls) == (unknown, ["start", "body", "commit"])


@pytest.mark.parametrize(
    ("where", "error"),
    [
        ("body", NetworkTimeout("timed out", {"errorLabels": ["TransientTransactionError"]})),
        (
            "commit",
            NetworkTimeout("timed out", {"errorLabels": ["UnknownTransactionCommitResult"]}),
        ),
        ("commit", unknown_commit(code=50)),  # MaxTimeMSExpired
    ],
    ids=["client-timeout-in-body", "client-timeout-on-commit", "max-time-expired-on-commit"],
)
async def test_a_timeout_is_not_retried_even_before_the_deadline(
    where: str, error: PyMongoError
) -> None:
    session = RecordedSession(**{f"{where}_errors": [error]})
    with pytest.raises(PyMongoError) as raised:
        await run(session)
    last = "abort" if where == "body" else "commit"
    assert (raised.value, session.calls) == (error, ["start", "body", last])


async def test_snapshot_reads_majority_writes_and_the_commit_bounded_by_the_deadline() -> None:
    clock = Clock()
    clock.now = 7.5
    session = RecordedSession()
    assert await run(session, clock) == "placed"
    assert session.options == [
        {
            "read": "snapshot",
            "write": {"w": "majority"},
            "preference": ReadPreference.PRIMARY,
            "max_commit_time_ms": 2500,
        }
    ]
