"""Signing-key rotation without a restart: the key files are replaced as the agent does it."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from jose import jwt

from api_service.config import ConfigurationError
from api_service.services.keyring import KeyRing
from api_service.services.signingkeys import load_previous_keys, load_signing_key
from tests.services.api_service.conftest import (
    USER_PASSWORD,
    Starter,
    bearer,
    register,
    write_ec_key,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RETENTION = timedelta(minutes=15, seconds=120)  # the default TTL plus the default grace


def replace(path: Path, data: bytes) -> None:
    """Write aside, then rename over path: how the agent replaces a rendered file."""
    aside = path.with_name(f".{path.name}.new")
    aside.write_bytes(data)
    os.replace(aside, path)


def previous_keys(*entries: tuple[Path, datetime]) -> bytes:
    """A previous-keys document: each key file's public half and when it stopped signing."""
    keys = [
        {"public_key": load_signing_key(key).public.public_pem, "retired_at": at.isoformat()}
        for key, at in entries
    ]
    return json.dumps({"keys": keys}).encode()


class Files:
    """The key files of one app: the signing key and the previous keys, as rendered."""

    def __init__(self, root: Path) -> None:
        self.key = write_ec_key(root / "jwt-private-key.pem")
        self.previous = root / "previous-keys.json"
        self.previous.write_bytes(b'{"keys": []}')
        self.spare = root / "spare"
        self.spare.mkdir()

    def rotate(self, retired_at: datetime) -> str:
        """Replace the key as a rotation does; the old kid."""
        old = self.spare / f"{load_signing_key(self.key).kid}.pem"
        old.write_bytes(self.key.read_bytes())
        replace(self.previous, previous_keys((old, retired_at)))
        replace(self.key, write_ec_key(self.spare / "new.pem").read_bytes())
        return load_signing_key(old).kid


def ring(app: FastAPI) -> KeyRing:
    """The app's key ring, told to look at its files on every request and to read time at T."""
    keys: KeyRing = app.state.tokens.keys
    keys.check_seconds = 0
    return keys


def at(app: FastAPI, moment: datetime) -> None:
    """Set the key ring's clock (token times and key retention) to a fixed moment."""
    ring(app).clock = lambda: moment


async def login(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post("/auth/login", json={"email": email, "password": USER_PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


async def status(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get("/orders/me", headers=bearer(token))).status_code


async def published(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return [key["kid"] for key in response.json()["keys"]]


@pytest.fixture
async def rotating(start_app: Starter, tmp_path: Path) -> tuple[FastAPI, httpx.AsyncClient, Files]:
    """An app on key files that the test rotates."""
    files = Files(tmp_path)
    app, client = await start_app(
        jwt_private_key_file=files.key, jwt_previous_keys_file=files.previous
    )
    at(app, T0)
    return app, client, files


async def test_after_rotation_new_tokens_carry_the_new_kid_and_old_ones_verify_until_exp(
    rotating: tuple[FastAPI, httpx.AsyncClient, Files],
) -> None:
    app, client, files = rotating
    old_token = await register(client, "rotate@example.com")
    old_kid = files.rotate(retired_at=T0)
    new_kid = load_signing_key(files.key).kid

    new_token = await login(client, "rotate@example.com")
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert jwt.get_unverified_header(old_token)["kid"] == old_kid != new_kid
    assert await status(client, new_token) == 200
    assert await status(client, old_token) == 200
    assert await published(client) == [new_kid, old_kid]

    expires = datetime.fromtimestamp(jwt.get_unverified_claims(old_token)["exp"], UTC)
    at(app, expires - timedelta(seconds=1))
    assert await status(client, old_token) == 200
    at(app, expires)
    assert await status(client, old_token) == 401
    assert await published(client) == [new_kid, old_kid]  # until the retention is over

    at(app, T0 + RETENTION)
    assert await published(client) == [new_kid]


async def test_a_retired_key_is_unknown_after_its_retention(
    rotating: tuple[FastAPI, httpx.AsyncClient, Files],
) -> None:
    app, client, files = rotating
    claims = jwt.get_unverified_claims(await register(client, "late@example.com"))
    old_pem = files.key.read_text()
    old_kid = files.rotate(retired_at=T0)
    late = T0 + RETENTION
    claims |= {"iat": int(late.timestamp()) - 60, "exp": int(late.timestamp()) + 300}
    token = jwt.encode(claims, old_pem, algorithm="ES256", headers={"kid": old_kid})

    at(app, late - timedelta(seconds=1))
    assert await status(client, token) == 200
    at(app, late)
    response = await client.get("/orders/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "token signed by an unknown key"


async def test_a_token_from_a_key_never_trusted_is_401(
    rotating: tuple[FastAPI, httpx.AsyncClient, Files], tmp_path: Path
) -> None:
    _, client, _ = rotating
    token = await register(client, "stranger@example.com")
    claims = jwt.get_unverified_claims(token)
    stranger = load_signing_key(write_ec_key(tmp_path / "stranger.pem"))
    forged = jwt.encode(
        claims, stranger.private_pem, algorithm="ES256", headers={"kid": stranger.kid}
    )
    response = await client.get("/orders/me", headers=bearer(forged))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "token signed by an unknown key"


async def test_a_rotation_seen_without_previous_keys_file_keeps_the_old_key(
    start_app: Starter, tmp_path: Path
) -> None:
    key = write_ec_key(tmp_path / "jwt.pem")
    app, client = await start_app(jwt_private_key_file=key)
    at(app, T0)
    old_token = await register(client, "memory@example.com")
    old_kid = load_signing_key(key).kid
    replace(key, write_ec_key(tmp_path / "next.pem").read_bytes())
    new_kid = load_signing_key(key).kid

    assert await published(client) == [new_kid, old_kid]
    assert await status(client, old_token) == 200
    at(app, T0 + RETENTION)
    assert await published(client) == [new_kid]


async def test_a_key_file_replaced_by_garbage_keeps_the_current_key(
    rotating: tuple[FastAPI, httpx.AsyncClient, Files], caplog: pytest.LogCaptureFixture
) -> None:
    _, client, files = rotating
    kid = load_signing_key(files.key).kid
    replace(files.key, b"not a key\n")
    with caplog.at_level(logging.ERROR, logger="api_service.services.keyring"):
        token = await register(client, "garbage@example.com")
        assert await published(client) == [kid]
    assert jwt.get_unverified_header(token)["kid"] == kid
    assert await status(client, token) == 200
    messages = [r.getMessage() for r in caplog.records if r.name.endswith("keyring")]
    assert messages == [
        f"keeping the current signing keys: JWT_PRIVATE_KEY_FILE: {files.key}"
        " is not an unencrypted PEM private key"
    ]


def test_the_key_files_are_looked_at_once_per_interval(tmp_path: Path) -> None:
    key = write_ec_key(tmp_path / "jwt.pem")
    ticks = iter([0.0, 0.5, 0.9, 1.0, 1.0])
    keys = KeyRing(key, None, RETENTION, monotonic=lambda: next(ticks))  # 0.0: at start
    first = keys.signing().kid  # 0.5
    replace(key, write_ec_key(tmp_path / "next.pem").read_bytes())
    assert keys.signing().kid == first  # 0.9: not looked at yet
    assert keys.signing().kid == load_signing_key(key).kid != first  # 1.0 (and 1.0 to record it)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{}", "not a previous-keys document"),
        (
            b'{"keys": [{"public_key": "x", "retired_at": "2026-12-01T12:00:00Z"}]}',
            "keys[0] is not a PEM public key",
        ),
        (b'{"keys": [], "extra": 1}', "not a previous-keys document"),
    ],
)
def test_a_bad_previous_keys_file_is_refused_naming_the_variable(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "previous-keys.json"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError) as caught:
        load_previous_keys(path)
    assert str(caught.value).startswith(f"JWT_PREVIOUS_KEYS_FILE: {path}")
    assert str(caught.value).endswith(reason)
