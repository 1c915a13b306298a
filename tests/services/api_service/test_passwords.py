"""Production password hashing parameters (argon2id, RFC 9106 low-memory profile)."""

from __future__ import annotations

from api_service.services import passwords


async def test_module_hasher_is_argon2id_with_rfc9106_low_memory_parameters() -> None:
    # The autouse fixture swaps the hasher for tests; the timing-equaliser hash was made at
    # import time with the production hasher, so it shows the production parameters.
    assert passwords._DUMMY_HASH.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


async def test_verify_rejects_garbage_hashes_without_raising() -> None:
    assert await passwords.verify_password("not-a-hash", "whatever") is False
    assert await passwords.verify_password(None, "whatever") is False
    good = await passwords.hash_password("right-password")
    assert await passwords.verify_password(good, "right-password") is True
    assert await passwords.verify_password(good, "wrong-password") is False
