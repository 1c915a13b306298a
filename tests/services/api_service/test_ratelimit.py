"""The in-memory limits: backoff per account and client, per client, per account; registrations."""

from __future__ import annotations

import pytest

from api_service.services import ratelimit
from api_service.services.ratelimit import (
    Backoff,
    LoginLimiter,
    WindowLimiter,
    client_key,
)

ACCOUNT = "owner@example.com"
ATTACKER, OWNER_DEVICE = "203.0.113.10", "198.51.100.20"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock) -> LoginLimiter:
    """3 free failures per account and client, 5 per client, 4 per account (capped at 30 s)."""
    return LoginLimiter(
        by_pair=Backoff(free=3, cap=60, window=600),
        by_client=Backoff(free=5, cap=60, window=600),
        by_account=Backoff(free=4, cap=30, window=600),
        clock=clock,
    )


def fail(login: LoginLimiter, account: str, client: str) -> int:
    """One failed attempt when allowed; returns the wait that was asked first (0: allowed)."""
    wait = login.retry_after(account, client)
    if wait == 0:
        login.attempt(account, client)
    return wait


def test_backoff_doubles_after_the_free_failures_up_to_the_cap() -> None:
    backoff = Backoff(free=2, cap=10, window=600)
    delays = []
    for _ in range(7):
        backoff.fail("k", 0.0)
        delays.append(backoff.delay("k", 0.0))
    assert delays == [0.0, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.remaining("k", 3.0) == 7.0
    assert backoff.remaining("k", 599.0) == 0.0
    assert backoff.delay("k", 600.0) == 0.0  # forgotten a window after the last failure
    assert backoff.last_failure("k", 600.0) is None


def test_one_client_backs_off_on_one_account_while_another_client_signs_in() -> None:
    clock = Clock()
    login = limiter(clock)
    assert [fail(login, ACCOUNT, ATTACKER) for _ in range(4)] == [0, 0, 0, 1]
    clock.now += 1
    assert [fail(login, ACCOUNT, ATTACKER) for _ in range(2)] == [0, 2]
    assert login.retry_after(ACCOUNT, OWNER_DEVICE) == 0
    login.attempt(ACCOUNT, OWNER_DEVICE)
    login.succeeded(ACCOUNT, OWNER_DEVICE)
    assert login.retry_after(ACCOUNT, OWNER_DEVICE) == 0
    assert login.retry_after("someone@example.com", ATTACKER) == 0  # 4 failures, 5 are free


def test_many_clients_slow_an_account_only_for_clients_that_failed_on_it() -> None:
    clock = Clock()
    login = limiter(clock)
    bots = [f"192.0.2.{n}" for n in range(1, 13)]
    assert [fail(login, ACCOUNT, bot) for bot in bots] == [0] * 12
    # 12 failures on the account, 4 free: each bot waits min(30, 2**8) s after its own failure.
    assert {login.retry_after(ACCOUNT, bot) for bot in bots} == {30}
    assert login.retry_after(ACCOUNT, OWNER_DEVICE) == 0
    # The owner mistypes once: a wait, but a short one, never a lockout.
    login.attempt(ACCOUNT, OWNER_DEVICE)
    assert login.retry_after(ACCOUNT, OWNER_DEVICE) == 30
    clock.now += 30
    assert login.retry_after(ACCOUNT, OWNER_DEVICE) == 0


def test_concurrent_attempts_count_before_their_outcome_is_known() -> None:
    login = limiter(Clock())
    for _ in range(3):
        assert login.retry_after(ACCOUNT, ATTACKER) == 0
        login.attempt(ACCOUNT, ATTACKER)  # none has failed yet: all still being checked
    assert login.retry_after(ACCOUNT, ATTACKER) == 1


def test_a_correct_password_clears_the_pair_and_takes_its_attempt_back() -> None:
    login = limiter(Clock())
    for _ in range(2):
        login.attempt(ACCOUNT, ATTACKER)
    login.attempt(ACCOUNT, ATTACKER)
    login.succeeded(ACCOUNT, ATTACKER)
    assert login.by_pair.last_failure(f"{ACCOUNT}\n{ATTACKER}", 1000.0) is None
    assert login.by_client._entries[ATTACKER][0] == 2
    assert login.by_account._entries[ACCOUNT][0] == 2


def test_an_attempt_never_checked_is_taken_back_everywhere() -> None:
    login = limiter(Clock())
    login.attempt(ACCOUNT, OWNER_DEVICE)
    login.take_back(ACCOUNT, OWNER_DEVICE)
    assert (login.by_pair._entries, login.by_client._entries, login.by_account._entries) == (
        {},
        {},
        {},
    )


def test_register_window_allows_max_events_then_waits_for_the_oldest() -> None:
    clock = Clock()
    window = WindowLimiter(max_events=2, window_seconds=60, clock=clock)
    window.record("a")
    clock.now += 10
    window.record("a")
    assert (window.retry_after("a"), window.retry_after("b")) == (50, 0)
    clock.now += 50
    assert window.retry_after("a") == 0


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 3)
    clock = Clock()
    window = WindowLimiter(max_events=5, window_seconds=10, clock=clock)
    for key in ("a", "b", "c"):
        window.record(key)
    clock.now += 5
    window.record("d")  # full, nothing stale: the oldest key goes
    assert sorted(window._events) == ["b", "c", "d"]
    clock.now += 6
    window.record("e")  # b and c are stale now and are pruned
    assert sorted(window._events) == ["d", "e"]
    backoff = Backoff(free=1, cap=5, window=10)
    for key in ("a", "b", "c", "d"):
        backoff.fail(key, 0.0)
    assert sorted(backoff._entries) == ["b", "c", "d"]
    backoff.fail("e", 10.0)  # all stale: pruned
    assert sorted(backoff._entries) == ["e"]


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("not-an-address", "not-an-address"),
        (None, "unknown"),
    ],
)
def test_clients_are_keyed_by_address_and_ipv6_by_its_64(host: str | None, key: str) -> None:
    assert client_key(host) == key
