"""Sign-in and registration limits, in memory and per process: backoff, never a lockout.

Sign-in failures are counted under three keys. Per account and client: after
`free` failures each further attempt waits 1 s, 2 s, 4 s... up to a cap; a correct password
clears it. Per client over all accounts: the same, against one address trying many accounts.
Per account over all clients: a shorter backoff that applies only to clients that have failed
on that account themselves, so an account attacked from many addresses slows the attackers
while its owner, on a device that has not failed, signs in at once. Every attempt counts as a
failure while its password is checked (and is taken back if it was right), so concurrent
guesses cannot all slip past the check before the first of them fails. Registrations are
counted per client in a sliding window.

Each uvicorn worker (and each replica) keeps its own counts, so the effective limits are the
configured ones times the number of processes; a shared store (Redis) would make them global.
Hand-written because the limits need backoff keyed on pairs and the "only clients that failed"
rule, which the rate-limit libraries (fixed or sliding windows per key) do not express.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

MAX_KEYS = 100_000
MAX_DOUBLINGS = 32  # 2**32 s is past any cap; keeps the count from growing without bound
V = TypeVar("V")


def client_key(host: str | None) -> str:
    """The key a client address is limited under: IPv4 as is, IPv6 by its /64 network.

    One IPv6 subscriber usually holds a whole /64, so counting single addresses would give it
    2**64 fresh keys.
    """
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _evict_if_full(entries: dict[str, V], drop_if_stale: Callable[[str], object]) -> None:
    """Keep fewer than MAX_KEYS keys: drop the stale ones (the callback does), then the oldest."""
    if len(entries) < MAX_KEYS:
        return
    for key in list(entries):
        drop_if_stale(key)
    if len(entries) >= MAX_KEYS:
        entries.pop(next(iter(entries)))


@dataclass
class Backoff:
    """Failures per key; from the `free`-th on, the next attempt waits 2**(n - free) s, capped."""

    free: int
    cap: float
    window: float  # a key is forgotten this long after its last failure
    _entries: dict[str, tuple[int, float]] = field(default_factory=dict)

    def _get(self, key: str, now: float) -> tuple[int, float] | None:
        entry = self._entries.get(key)
        if entry is not None and now - entry[1] >= self.window:
            del self._entries[key]
            return None
        return entry

    def last_failure(self, key: str, now: float) -> float | None:
        """When key last failed (None when it has no failure in the window)."""
        entry = self._get(key, now)
        return None if entry is None else entry[1]

    def delay(self, key: str, now: float) -> float:
        """How long after its last failure key must wait (0 below `free` failures)."""
        entry = self._get(key, now)
        if entry is None or entry[0] < self.free:
            return 0.0
        return float(min(self.cap, 2 ** min(entry[0] - self.free, MAX_DOUBLINGS)))

    def remaining(self, key: str, now: float) -> float:
        """Seconds key must still wait now."""
        last = self.last_failure(key, now)
        return 0.0 if last is None else max(0.0, last + self.delay(key, now) - now)

    def fail(self, key: str, now: float) -> None:
        """Count one failure for key now."""
        entry = self._get(key, now)
        if entry is None:
            _evict_if_full(self._entries, lambda k: self._get(k, now))
        count = 0 if entry is None else entry[0]
        self._entries[key] = (min(count + 1, self.free + MAX_DOUBLINGS), now)

    def take_back(self, key: str, now: float) -> None:
        """Undo one counted failure (the attempt was right, or never checked)."""
        entry = self._get(key, now)
        if entry is None:
            return
        if entry[0] <= 1:
            del self._entries[key]
        else:
            self._entries[key] = (entry[0] - 1, entry[1])

    def clear(self, key: str) -> None:
        """Forget key."""
        self._entries.pop(key, None)


@dataclass
class LoginLimiter:
    """Backoff per (account, client), per client, and per account for clients that failed on it."""

    by_pair: Backoff
    by_client: Backoff
    by_account: Backoff
    clock: Callable[[], float] = time.monotonic

    @staticmethod
    def _pair(account: str, client: str) -> str:
        return f"{account}\n{client}"

    def retry_after(self, account: str, client: str) -> int:
        """Whole seconds this client must wait before trying this account (0: go ahead)."""
        now = self.clock()
        pair = self._pair(account, client)
        waits = [self.by_pair.remaining(pair, now), self.by_client.remaining(client, now)]
        last = self.by_pair.last_failure(pair, now)
        if last is not None:
            waits.append(last + self.by_account.delay(account, now) - now)
        longest = max(waits)
        return math.ceil(longest) if longest > 0 else 0

    def attempt(self, account: str, client: str) -> None:
        """Count an attempt as failed until its password is known to be right."""
        now = self.clock()
        self.by_pair.fail(self._pair(account, client), now)
        self.by_client.fail(client, now)
        self.by_account.fail(account, now)

    def take_back(self, account: str, client: str) -> None:
        """Uncount an attempt whose password was never checked."""
        now = self.clock()
        self.by_pair.take_back(self._pair(account, client), now)
        self.by_client.take_back(client, now)
        self.by_account.take_back(account, now)

    def succeeded(self, account: str, client: str) -> None:
        """The password was right: take the attempt back and clear the pair's failures."""
        self.take_back(account, client)
        self.by_pair.clear(self._pair(account, client))


@dataclass
class WindowLimiter:
    """At most `max_events` per key within a sliding window of `window_seconds`."""

    max_events: int
    window_seconds: float
    clock: Callable[[], float] = time.monotonic
    _events: dict[str, deque[float]] = field(default_factory=dict)

    def _prune(self, key: str, now: float) -> deque[float] | None:
        stamps = self._events.get(key)
        if stamps is None:
            return None
        while stamps and stamps[0] <= now - self.window_seconds:
            stamps.popleft()
        if not stamps:
            del self._events[key]
            return None
        return stamps

    def retry_after(self, key: str) -> int:
        """Whole seconds until key may act again (0 when it may act now)."""
        now = self.clock()
        stamps = self._prune(key, now)
        if stamps is None or len(stamps) < self.max_events:
            return 0
        return max(1, math.ceil(stamps[-self.max_events] + self.window_seconds - now))

    def record(self, key: str) -> None:
        """Count one event for key now."""
        now = self.clock()
        if key not in self._events:
            _evict_if_full(self._events, lambda k: self._prune(k, now))
        stamps = self._events.setdefault(key, deque())
        stamps.append(now)
        while len(stamps) > self.max_events:
            stamps.popleft()


@dataclass(frozen=True)
class AuthLimits:
    """The sign-in and registration limits of one process."""

    login: LoginLimiter
    register: WindowLimiter
