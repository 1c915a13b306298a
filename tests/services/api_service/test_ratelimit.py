"""The in-memory sliding-window failure limiter (per process)."""

from __future__ import annotations

from api_service.services import ratelimit
from api_service.services.ratelimit import FailureLimiter, LoginLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_blocks_after_max_failures_until_the_window_passes() -> None:
    clock = Clock()
    limiter = FailureLimiter(max_failures=3, window_seconds=60, clock=clock)
    for _ in range(3):
        assert limiter.blocked("k") == 0
        limiter.record_failure("k")
        clock.now += 10
    assert limiter.blocked("k") == 30  # the first failure (t=1000) leaves the window at t=1060
    clock.now = 1060.0
    assert limiter.blocked("k") == 0
    assert limiter.blocked("other") == 0


def test_reset_forgets_a_key() -> None:
    limiter = FailureLimiter(max_failures=1, window_seconds=60, clock=Clock())
    limiter.record_failure("k")
    assert limiter.blocked("k") == 60
    limiter.reset("k")
    assert limiter.blocked("k") == 0


def test_memory_is_bounded(monkeypatch: object) -> None:
    import pytest  # noqa: PLC0415

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 3)
    clock = Clock()
    limiter = FailureLimiter(max_failures=5, window_seconds=10, clock=clock)
    for key in ("a", "b", "c"):
        limiter.record_failure(key)
    clock.now += 5
    limiter.record_failure("d")  # full, nothing stale: the oldest key goes
    assert sorted(limiter._failures) == ["b", "c", "d"]
    clock.now += 6
    limiter.record_failure("e")  # b and c are stale now and are pruned
    assert sorted(limiter._failures) == ["d", "e"]


def test_login_limiter_takes_the_longer_wait() -> None:
    clock = Clock()
    login = LoginLimiter(FailureLimiter(2, 100, clock=clock), FailureLimiter(3, 300, clock=clock))
    login.failed("e", "ip")
    login.failed("e", "ip")
    assert login.retry_after("e", "ip") == 100
    login.failed("f", "ip")
    assert login.retry_after("g", "ip") == 300
    login.succeeded("e")
    assert login.by_email.blocked("e") == 0
