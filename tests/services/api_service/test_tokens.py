"""Token verification: every forged or stale token is 401; JWKS publishes the key by thumbprint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwt

from api_service.config import ConfigurationError
from api_service.models import User
from api_service.services.keyring import KeyRing
from api_service.services.signingkeys import load_signing_key, thumbprint
from api_service.services.tokens import TokenService
from tests.services.api_service.conftest import bearer, register, write_ec_key


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


@pytest.fixture
def claims(user_token: str) -> dict[str, Any]:
    """The claims of a genuine token, to tamper with."""
    return dict(jwt.get_unverified_claims(user_token))


@pytest.fixture
def kid(user_token: str) -> str:
    return str(jwt.get_unverified_header(user_token)["kid"])


async def assert_rejected(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get("/orders/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def resign(signing_key_file: Path, claims: dict[str, Any], kid: str) -> str:
    key = signing_key_file.read_text()
    return str(jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid}))


async def test_genuine_token_is_accepted(client: httpx.AsyncClient, user_token: str) -> None:
    assert (await client.get("/orders/me", headers=bearer(user_token))).status_code == 200


async def test_missing_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/orders/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_malformed_token_is_401(client: httpx.AsyncClient) -> None:
    await assert_rejected(client, "not.a.token")


async def test_alg_none_token_is_401(
    client: httpx.AsyncClient, claims: dict[str, Any], kid: str
) -> None:
    token = f"{segment({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{segment(claims)}."
    await assert_rejected(client, token)


async def test_hs256_token_signed_with_the_public_key_is_401(
    client: httpx.AsyncClient, claims: dict[str, Any], kid: str, signing_key_file: Path
) -> None:
    public_pem = load_signing_key(signing_key_file).public.public_pem.encode()
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{segment(claims)}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    await assert_rejected(client, f"{signing_input}.{b64(signature)}")


async def test_unknown_kid_is_401(
    client: httpx.AsyncClient, claims: dict[str, Any], signing_key_file: Path
) -> None:
    await assert_rejected(client, resign(signing_key_file, claims, "some-other-key"))


async def test_token_without_kid_is_401(
    client: httpx.AsyncClient, claims: dict[str, Any], signing_key_file: Path
) -> None:
    token = jwt.encode(claims, signing_key_file.read_text(), algorithm="ES256")
    await assert_rejected(client, token)


async def test_bad_signature_is_401(
    client: httpx.AsyncClient, claims: dict[str, Any], kid: str, tmp_path: Path
) -> None:
    other_key = write_ec_key(tmp_path / "attacker.pem")
    await assert_rejected(client, resign(other_key, claims, kid))


async def test_tampered_claims_are_401(
    client: httpx.AsyncClient, user_token: str, claims: dict[str, Any]
) -> None:
    header, _, signature = user_token.split(".")
    await assert_rejected(client, f"{header}.{segment({**claims, 'role': 'admin'})}.{signature}")


async def test_wrong_issuer_is_401(
    client: httpx.AsyncClient, claims: dict[str, Any], kid: str, signing_key_file: Path
) -> None:
    await assert_rejected(client, resign(signing_key_file, {**claims, "iss": "evil"}, kid))


async def test_wrong_audience_is_401(
    client: httpx.AsyncClient, claims: dict[str, Any], kid: str, signing_key_file: Path
) -> None:
    await assert_rejected(client, resign(signing_key_file, {**claims, "aud": "other-api"}, kid))


async def test_expired_token_is_401(
    client: httpx.AsyncClient, claims: dict[str, Any], kid: str, signing_key_file: Path
) -> None:
    past = int(time.time()) - 3600
    expired = {**claims, "iat": past - 900, "exp": past}
    await assert_rejected(client, resign(signing_key_file, expired, kid))


async def test_token_without_exp_is_401(
    client: httpx.AsyncClient, claims: dict[str, Any], kid: str, signing_key_file: Path
) -> None:
    no_exp = {k: v for k, v in claims.items() if k != "exp"}
    await assert_rejected(client, resign(signing_key_file, no_exp, kid))


async def test_token_of_deleted_user_is_401(client: httpx.AsyncClient, user_token: str) -> None:
    await User.find_all().delete()
    await assert_rejected(client, user_token)


async def test_token_with_malformed_subject_is_401(
    client: httpx.AsyncClient, claims: dict[str, Any], kid: str, signing_key_file: Path
) -> None:
    await assert_rejected(client, resign(signing_key_file, {**claims, "sub": "nope"}, kid))


async def test_token_claims_are_short_lived_and_complete(
    client: httpx.AsyncClient, claims: dict[str, Any], kid: str, signing_key_file: Path
) -> None:
    assert claims["iss"] == "microshop-api"
    assert claims["aud"] == "microshop"
    assert claims["role"] == "user"
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert kid == load_signing_key(signing_key_file).kid


async def test_jwks_serves_the_public_key_under_its_thumbprint(
    client: httpx.AsyncClient, signing_key_file: Path
) -> None:
    token = await register(client, "jwks@example.com")
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert key["kty"] == "EC"
    assert key["alg"] == "ES256"
    assert key["use"] == "sig"
    assert "d" not in key
    assert key["kid"] == thumbprint(key) == jwt.get_unverified_header(token)["kid"]
    verified = jwt.decode(token, key, algorithms=["ES256"], audience="microshop")
    assert verified["role"] == "user"


def test_thumbprint_matches_rfc7638_example() -> None:
    key = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
        "tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
        "65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNL"
        "yrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJ"
        "zKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert thumbprint(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_rsa_keys_sign_rs256_and_verify(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "rsa.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    signing = load_signing_key(path)
    assert signing.public.algorithm == "RS256"
    assert signing.public.public_jwk["kty"] == "RSA"
    tokens = TokenService(KeyRing(path, None, timedelta(minutes=5)), "iss", "aud", 5)
    claims = tokens.verify(tokens.issue("65f0c0ffee0000000000beef", "admin"))
    assert (claims.subject, claims.role) == ("65f0c0ffee0000000000beef", "admin")


def test_weak_rsa_key_is_refused_naming_the_variable(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - on purpose
    path = tmp_path / "weak.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ConfigurationError, match=r"^JWT_PRIVATE_KEY_FILE: .*RSA \(>= 2048 bits\)"):
        load_signing_key(path)


def test_file_that_is_not_a_key_is_refused_naming_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "not-a-key.pem"
    path.write_text("changeme\n")
    with pytest.raises(ConfigurationError, match=r"^JWT_PRIVATE_KEY_FILE: .*unencrypted PEM"):
        load_signing_key(path)


def test_a_trusted_key_is_parsed_once_for_every_verification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api_service.services import signingkeys  # noqa: PLC0415 - its jwk is watched

    parsed: list[str] = []
    construct = signingkeys.jwk.construct

    def counting(key: Any, algorithm: Any = None) -> Any:
        parsed.append(algorithm)
        return construct(key, algorithm)

    ring = KeyRing(write_ec_key(tmp_path / "k.pem"), None, timedelta(minutes=20))
    tokens = TokenService(ring, "microshop-api", "microshop", 15)
    issued = {subject: tokens.issue(subject, "user") for subject in ("a", "b", "c")}
    monkeypatch.setattr(signingkeys.jwk, "construct", counting)  # jose's own, watched from here
    for subject, token in issued.items():
        assert tokens.verify(token).subject == subject
    assert parsed == ["ES256"]
