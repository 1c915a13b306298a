"""Signing and verification keys from files: kid = RFC 7638 thumbprint, previous keys as JSON."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from api_service.config import ConfigurationError

MIN_RSA_BITS = 2048
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def _b64url_uint(value: int, length: int | None = None) -> str:
    raw = value.to_bytes(length or (value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of the key's required members."""
    required = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class VerifyKey:
    """A public key tokens are checked against; retired_at: when it stopped signing, if it did."""

    kid: str
    algorithm: str
    public_pem: str
    public_jwk: dict[str, str]
    retired_at: datetime | None = None

    @cached_property
    def verifier(self) -> Any:
        """The key as python-jose uses it, parsed from the PEM once (not on every request)."""
        return jwk.construct(self.public_pem, self.algorithm)


@dataclass(frozen=True)
class SigningKey:
    """The key new tokens are signed with: its private PEM and its public side."""

    private_pem: str
    public: VerifyKey

    @property
    def kid(self) -> str:
        """The key's id (its thumbprint)."""
        return self.public.kid


def verify_key(key: object, source: str, retired_at: datetime | None = None) -> VerifyKey:
    """The public side of an RSA (>= 2048 bits) or EC P-256 key; source names it in errors."""
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        key = key.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
        numbers = key.public_numbers()
        jwk = {"kty": "RSA", "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}
        algorithm = "RS256"
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        point = key.public_numbers()
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url_uint(point.x, 32),
            "y": _b64url_uint(point.y, 32),
        }
        algorithm = "ES256"
    else:
        raise ConfigurationError(f"{source} must hold an RSA (>= 2048 bits) or EC P-256 key")
    kid = thumbprint(jwk)
    public_pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    public_jwk = {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}
    return VerifyKey(kid, algorithm, public_pem, public_jwk, retired_at)


def load_signing_key(path: Path, variable: str = "JWT_PRIVATE_KEY_FILE") -> SigningKey:
    """Read a PEM private key (RSA >= 2048 bits or EC P-256) or fail naming the variable."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        message = f"{variable}: {path} is not an unencrypted PEM private key"
        raise ConfigurationError(message) from exc
    public = verify_key(key, f"{variable}: {path}")
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return SigningKey(private_pem, public)


class _PreviousKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    public_key: str
    retired_at: AwareDatetime


class _PreviousKeys(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: list[_PreviousKey]


def load_previous_keys(
    path: Path, variable: str = "JWT_PREVIOUS_KEYS_FILE"
) -> tuple[VerifyKey, ...]:
    """Keys that signed before the current one: {"keys": [{"public_key": PEM, "retired_at": ISO
    8601}]}; anything else fails naming the variable."""
    try:
        document = _PreviousKeys.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a previous-keys document"
        raise ConfigurationError(f"{variable}: {path}: {reason}") from exc
    keys = []
    for number, entry in enumerate(document.keys):
        source = f"{variable}: {path}: keys[{number}]"
        try:
            public = serialization.load_pem_public_key(entry.public_key.encode("ascii"))
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            raise ConfigurationError(f"{source} is not a PEM public key") from exc
        keys.append(verify_key(public, source, entry.retired_at))
    return tuple(keys)
