"""A small sliding-window failure counter, in memory and per process.

Each uvicorn worker (and each replica) keeps its own counts, so the effective limit is the
configured one times the number of workers. Good enough to stop a single client's password
guessing; a shared store (Redis) would be the next step for a hard cluster-wide limit.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_KEYS = 100_000


@dataclass
class FailureLimiter:
    """Counts failures per key within a window; blocked() says for how long a key must wait."""

    max_failures: int
    window_seconds: float
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _prune(self, key: str, now: float) -> deque[float] | None:
        stamps = self._failures.get(key)
        if stamps is None:
            return None
        while stamps and stamps[0] <= now - self.window_seconds:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
            return None
        return stamps

    def blocked(self, key: str) -> int:
        """Seconds until key may try again (0 when it may try now)."""
        now = self.clock()
        stamps = self._prune(key, now)
        if stamps is None or len(stamps) < self.max_failures:
            return 0
        return max(1, math.ceil(stamps[-self.max_failures] + self.window_seconds - now))

    def record_failure(self, key: str) -> None:
        """Count one failure for key now."""
        now = self.clock()
        if len(self._failures) >= MAX_KEYS:
            for key_seen in list(self._failures):
                self._prune(key_seen, now)  # drops keys with no failure left in the window
            if len(self._failures) >= MAX_KEYS:
                self._failures.pop(next(iter(self._failures)))
        stamps = self._failures.setdefault(key, deque())
        stamps.append(now)
        while len(stamps) > self.max_failures:
            stamps.popleft()

    def reset(self, key: str) -> None:
        """Forget key's failures (after a successful login)."""
        self._failures.pop(key, None)


@dataclass
class LoginLimiter:
    """Login failure limits per email and per client address."""

    by_email: FailureLimiter
    by_ip: FailureLimiter

    def retry_after(self, email: str, ip: str) -> int:
        """Seconds to wait before another attempt for this email or address (0: go ahead)."""
        return max(self.by_email.blocked(email), self.by_ip.blocked(ip))

    def failed(self, email: str, ip: str) -> None:
        """Record a failed attempt against both keys."""
        self.by_email.record_failure(email)
        self.by_ip.record_failure(ip)

    def succeeded(self, email: str) -> None:
        """A correct password clears that email's count (the address count stays)."""
        self.by_email.reset(email)
