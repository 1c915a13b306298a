"""The bounded wait used by the cluster tests (runs without a cluster)."""

from __future__ import annotations

import pytest

from tests.e2e.waiting import WaitTimeoutError, wait_for


class FakeClock:
    """A clock that only moves when the wait sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_returns_the_first_result_that_holds() -> None:
    clock = FakeClock()
    answers = iter([None, False, "ready"])
    result = wait_for(lambda: next(answers), what="pod", timeout=10, clock=clock, sleep=clock.sleep)
    assert result == "ready"
    assert clock.sleeps == [0.5, 1.0]


def test_backoff_doubles_up_to_the_cap_and_stops_at_the_deadline() -> None:
    clock = FakeClock()
    with pytest.raises(WaitTimeoutError) as err:
        wait_for(
            lambda: None,
            what="policy Ready",
            timeout=10,
            interval=1,
            max_interval=3,
            clock=clock,
            sleep=clock.sleep,
        )
    assert clock.sleeps == [1, 2, 3, 3, 1]
    assert clock.now == 110.0
    assert str(err.value) == (
        "policy Ready: not reached within 10 s after 6 attempts (returned None)"
    )


def test_listed_exceptions_are_retried_and_reported() -> None:
    clock = FakeClock()

    def flaky() -> str:
        raise ConnectionError("refused")

    with pytest.raises(WaitTimeoutError, match=r"after 3 attempts \(ConnectionError: refused\)"):
        wait_for(
            flaky,
            what="api",
            timeout=1.5,
            retry_on=(ConnectionError,),
            clock=clock,
            sleep=clock.sleep,
        )


def test_other_exceptions_propagate_at_once() -> None:
    clock = FakeClock()

    def broken() -> str:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        wait_for(
            broken,
            what="api",
            timeout=5,
            retry_on=(ConnectionError,),
            clock=clock,
            sleep=clock.sleep,
        )
    assert clock.sleeps == []


def test_a_wait_is_a_failed_assertion_for_pytest() -> None:
    assert issubclass(WaitTimeoutError, AssertionError)


@pytest.mark.parametrize(("timeout", "interval"), [(0, 1), (5, 0), (-1, 1)])
def test_nonsense_bounds_are_refused(timeout: float, interval: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        wait_for(lambda: True, what="x", timeout=timeout, interval=interval)
