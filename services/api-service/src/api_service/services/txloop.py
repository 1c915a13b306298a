"""MongoDB's documented transaction retry loop, bounded by the request's deadline.

Hand-written instead of PyMongo's `ClientSession.with_transaction` because that one retries for
a fixed 120 s whatever the request's deadline: once the client-side timeout (pymongo.timeout)
has passed, every retry fails at once with a timeout that may carry TransientTransactionError,
and it would spin until its own limit. Here, as in the drivers' transactions specification:

- the whole transaction is run again on TransientTransactionError (a write conflict, a primary
  that stepped down), after a short jittered pause, so concurrent orders of one product take
  turns instead of colliding again;
- only the commit is sent again on UnknownTransactionCommitResult (a lost reply: the commit may
  have applied, and a commit of the same transaction number is idempotent), except after
  MaxTimeMSExpired;
- neither is retried past the deadline, nor after a client-side timeout; any other error (a
  domain error raised by the body, DuplicateKey) aborts and is raised as is.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from pymongo import ReadPreference, WriteConcern
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern

T = TypeVar("T")
S = TypeVar("S", bound="Session")

TRANSIENT = "TransientTransactionError"
UNKNOWN_COMMIT = "UnknownTransactionCommitResult"
MAX_TIME_MS_EXPIRED = 50
PAUSE_START, PAUSE_MAX = 0.002, 0.05
# MongoDB's advice for a transaction whose reads decide its writes: snapshot reads, majority
# writes (the commit is acknowledged once it cannot be rolled back), on the primary.
READ_CONCERN = ReadConcern("snapshot")
WRITE_CONCERN = WriteConcern("majority")
READ_PREFERENCE = ReadPreference.PRIMARY


class Session(Protocol):
    """What the loop uses of PyMongo's AsyncClientSession."""

    @property
    def in_transaction(self) -> bool: ...

    async def start_transaction(
        self,
        read_concern: ReadConcern | None = ...,
        write_concern: WriteConcern | None = ...,
        read_preference: Any = ...,
        max_commit_time_ms: int | None = ...,
    ) -> object: ...

    async def commit_transaction(self) -> None: ...

    async def abort_transaction(self) -> None: ...


def time_now() -> float:
    """The running event loop's clock (the deadline is on it)."""
    return asyncio.get_running_loop().time()


def _gave_up(exc: PyMongoError) -> bool:
    """A client-side timeout or the server's MaxTimeMSExpired: the deadline has passed."""
    return exc.timeout or (isinstance(exc, OperationFailure) and exc.code == MAX_TIME_MS_EXPIRED)


async def run_transaction(
    session: S,
    body: Callable[[S], Awaitable[T]],
    deadline: float,
    clock: Callable[[], float] = time_now,
) -> T:
    """Run body in a transaction on session and commit it; retried as the module says.

    deadline: on `clock` (the event loop's time), when the request gives up.
    """
    pause = PAUSE_START
    while True:
        remaining_ms = max(int((deadline - clock()) * 1000), 1)
        await session.start_transaction(
            READ_CONCERN, WRITE_CONCERN, READ_PREFERENCE, max_commit_time_ms=remaining_ms
        )
        try:
            result = await body(session)
        except BaseException as exc:
            if session.in_transaction:
                await session.abort_transaction()
            if not _retry_whole(exc, deadline, clock):
                raise
        else:
            if await _commit(session, deadline, clock):
                return result
        await asyncio.sleep(random.uniform(0, pause))  # noqa: S311 - jitter, not crypto
        pause = min(pause * 2, PAUSE_MAX)


def _retry_whole(exc: BaseException, deadline: float, clock: Callable[[], float]) -> bool:
    if not isinstance(exc, PyMongoError) or not exc.has_error_label(TRANSIENT):
        return False
    return not _gave_up(exc) and clock() < deadline


async def _commit(session: Session, deadline: float, clock: Callable[[], float]) -> bool:
    """Commit; True once committed, False when the whole transaction is to be run again."""
    while True:
        try:
            await session.commit_transaction()
        except PyMongoError as exc:
            in_time = not _gave_up(exc) and clock() < deadline
            if exc.has_error_label(UNKNOWN_COMMIT) and in_time:
                continue
            if exc.has_error_label(TRANSIENT) and in_time:
                return False
            raise
        return True
