"""Password hashing: production parameters, the bounded pool, old hashes, oversized hashes."""

from __future__ import annotations

import asyncio
import logging

import pytest
from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY

from api_service.errors import PasswordChecksBusy
from api_service.services import passwords
from api_service.services.passwords import PasswordHashing, needs_rehash
from tests.services.api_service.conftest import GatedHasher, wait_until_admitted


async def test_module_hasher_is_argon2id_with_owasp_parameters() -> None:
    # The autouse fixture swaps the hasher for tests; the timing-equaliser hash was made at
    # import time with the production hasher, so it shows the production parameters.
    assert passwords._DUMMY_HASH.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_verify_rejects_garbage_hashes_without_raising() -> None:
    pool = PasswordHashing(concurrency=1, queue=4)
    try:
        assert await pool.verify("not-a-hash", "whatever") is False
        assert await pool.verify(None, "whatever") is False
        good = await pool.hash("right-password")
        assert await pool.verify(good, "right-password") is True
        assert await pool.verify(good, "wrong-password") is False
    finally:
        pool.close()


async def test_a_full_pool_refuses_at_once_and_serves_the_admitted(
    gated_hasher: GatedHasher,
) -> None:
    pool = PasswordHashing(concurrency=1, queue=1)
    try:
        running = asyncio.create_task(pool.hash("first-password"))
        waiting = asyncio.create_task(pool.hash("second-password"))
        await wait_until_admitted(pool, 2)
        with pytest.raises(PasswordChecksBusy) as refused:
            await pool.hash("third-password")
        assert refused.value.headers == {"Retry-After": "1"}
        with pytest.raises(PasswordChecksBusy):
            await pool.verify(None, "unknown-user-password")  # unknown emails share the bound
        gated_hasher.gate.set()
        hashes = await asyncio.gather(running, waiting)
        assert [h.startswith("$argon2id$v=19$m=1024,t=1,p=1$") for h in hashes] == [True, True]
        assert pool.admitted == 0
    finally:
        pool.close()


async def test_hashes_run_only_on_the_pools_own_threads(gated_hasher: GatedHasher) -> None:
    gated_hasher.gate.set()
    pool = PasswordHashing(concurrency=2, queue=20)
    try:
        await asyncio.gather(*(pool.hash(f"password-{n}") for n in range(12)))
    finally:
        pool.close()
    assert len(gated_hasher.threads) <= 2
    assert all(name.startswith("argon2") for name in gated_hasher.threads), gated_hasher.threads


async def test_a_hash_of_the_previous_profile_verifies_and_needs_a_rehash() -> None:
    old = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY).hash("old-password")
    assert old.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    pool = PasswordHashing(concurrency=1, queue=0)
    try:
        assert await pool.verify(old, "old-password") is True
    finally:
        pool.close()
    assert needs_rehash(old) is True


async def test_a_hash_asking_for_more_memory_is_refused_unverified(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("pw-12345678")
    greedy = cheap.replace("m=1024,", "m=1048576,")  # 1 GiB: never allocated
    pool = PasswordHashing(concurrency=1, queue=0)
    try:
        with caplog.at_level(logging.WARNING, logger="api_service.services.passwords"):
            assert await pool.verify(greedy, "pw-12345678") is False
            assert await pool.verify(cheap, "pw-12345678") is True
    finally:
        pool.close()
    assert [r.getMessage() for r in caplog.records] == [
        "password hash refused: it asks for more memory than allowed"
    ]
