"""Password hashing with argon2id inside a memory bound: parameters, a bounded pool, rehashing.

Parameters: argon2id with m=19 MiB, t=2, p=1, OWASP's Password Storage Cheat Sheet's first
argon2id configuration (its listed settings, 46 MiB/t=1 down to 7 MiB/t=5, are rated equally
strong, trading memory for passes). The previous profile, RFC 9106's low-memory one (64 MiB,
t=3, p=4), is a stronger memory-hard setting but costs 64 MiB a hash: one API pod has 256 MiB
for up to two workers of about 80 MiB each, so 64 MiB hashes fit one at a time at most. 19 MiB
with two passes keeps OWASP's bar at a third of the memory; p=1 because a pod has one core.
Hashes made with the old profile still verify (argon2 reads the parameters from the hash) and
are rehashed at the next correct sign-in (`needs_rehash`).

Bound: every hash and verification runs on `concurrency` dedicated threads, at most `queue`
more requests wait for one, and any further one is refused at once (503, Retry-After: 1). The
bound is a thread pool of that size rather than a semaphore in front of a shared pool because
glibc keeps each freed hash buffer in the malloc arena of the thread that used it: measured
here, 8 threads that each hashed with these parameters kept 170 MB resident afterwards, 40
threads 870 MB. With its own threads the worker holds at most `concurrency` buffers, busy or
idle. A stored hash asking for more than MAX_VERIFY_MEMORY_KIB is refused unverified, so no
hash in the database can make a verification allocate more than the old profile did.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

from api_service.errors import PasswordChecksBusy

logger = logging.getLogger(__name__)

MEMORY_COST_KIB = 19_456  # 19 MiB
TIME_COST = 2
PARALLELISM = 1
MAX_VERIFY_MEMORY_KIB = 65_536  # the previous profile's 64 MiB

_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM)
# Verified against when the email is unknown, so both failures cost the same time and memory.
_DUMMY_HASH = _hasher.hash("not-a-real-password-only-for-timing")

T = TypeVar("T")


def _hash(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        if extract_parameters(password_hash).memory_cost > MAX_VERIFY_MEMORY_KIB:
            logger.warning("password hash refused: it asks for more memory than allowed")
            return False
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than the current ones."""
    return _hasher.check_needs_rehash(password_hash)


class PasswordHashing:
    """Runs argon2 on `concurrency` threads of its own, with at most `queue` callers waiting."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="argon2")
        self._capacity = concurrency + queue
        self._admitted = 0  # only touched on the event loop's thread

    @property
    def admitted(self) -> int:
        """Calls running or waiting now."""
        return self._admitted

    async def _run(self, call: Callable[..., T], *args: str) -> T:
        if self._admitted >= self._capacity:
            raise PasswordChecksBusy
        self._admitted += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, call, *args)
        finally:
            self._admitted -= 1

    async def hash(self, password: str) -> str:
        """Hash a new password; 503 when the pool and its queue are full."""
        return await self._run(_hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Check a password; with no hash (unknown user) spend the same and return False."""
        if password_hash is None:
            await self._run(_verify, _DUMMY_HASH, password)
            return False
        return await self._run(_verify, password_hash, password)

    def close(self) -> None:
        """Stop the threads; calls not started yet are cancelled."""
        self._executor.shutdown(wait=False, cancel_futures=True)
