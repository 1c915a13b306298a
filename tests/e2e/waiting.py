"""Bounded waits: poll a condition with capped backoff until it holds or a deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeoutError(AssertionError):
    """The condition did not hold before the deadline; says what, how long and the last answer."""


def wait_for(
    check: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    interval: float = 0.5,
    max_interval: float = 5.0,
    retry_on: tuple[type[Exception], ...] = (),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `check` until it returns something other than None or False, and return that.

    Exceptions listed in `retry_on` count as "not yet"; any other exception propagates at once.
    Between attempts the wait doubles from `interval` up to `max_interval`, and never runs past
    the deadline; then WaitTimeoutError names `what`, the attempts and the last result or error.
    """
    if timeout <= 0 or interval <= 0:
        raise ValueError("timeout and interval must be positive")
    deadline = clock() + timeout
    delay = interval
    attempts = 0
    while True:
        attempts += 1
        try:
            result = check()
        except retry_on as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if result is not None and result is not False:
                return result
            last = f"returned {result!r}"
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeoutError(
                f"{what}: not reached within {timeout:g} s after {attempts} attempts ({last})"
            )
        sleep(min(delay, remaining))
        delay = min(delay * 2, max_interval)
