"""JWT issue and verification: one asymmetric key from a file, kid = RFC 7638 thumbprint."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwt
from jose.exceptions import JOSEError

from api_service.config import ConfigurationError
from api_service.errors import Unauthorized

MIN_RSA_BITS = 2048


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
class SigningKey:
    """The service's signing key: private PEM, public PEM, algorithm and public JWK."""

    kid: str
    algorithm: str
    private_pem: str
    public_pem: str
    public_jwk: dict[str, str]


def load_signing_key(path: Path) -> SigningKey:
    """Read a PEM private key (RSA >= 2048 bits or EC P-256) or fail naming JWT_PRIVATE_KEY_FILE."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        message = f"JWT_PRIVATE_KEY_FILE: {path} is not an unencrypted PEM private key"
        raise ConfigurationError(message) from exc
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= MIN_RSA_BITS:
        numbers = key.public_key().public_numbers()
        jwk = {"kty": "RSA", "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}
        algorithm = "RS256"
    elif isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        point = key.public_key().public_numbers()
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url_uint(point.x, 32),
            "y": _b64url_uint(point.y, 32),
        }
        algorithm = "ES256"
    else:
        message = f"JWT_PRIVATE_KEY_FILE: {path} must hold an RSA (>= 2048 bits) or EC P-256 key"
        raise ConfigurationError(message)
    kid = thumbprint(jwk)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    public_jwk = {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}
    return SigningKey(kid, algorithm, private_pem, public_pem, public_jwk)


@dataclass(frozen=True)
class Claims:
    """What a verified token says: who (sub) and with which role."""

    subject: str
    role: str


class TokenService:
    """Issues short-lived tokens and verifies them against the known keys only."""

    def __init__(self, key: SigningKey, issuer: str, audience: str, ttl_minutes: int) -> None:
        self._key = key
        self._verify_keys = {key.kid: (key.public_pem, key.algorithm)}
        self.issuer = issuer
        self.audience = audience
        self.ttl = timedelta(minutes=ttl_minutes)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public keys as a JWK Set."""
        return {"keys": [self._key.public_jwk]}

    def issue(self, subject: str, role: str) -> str:
        """Sign a token for subject with iss, aud, iat, exp and role."""
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "role": role,
            "iat": int(now.timestamp()),
            "exp": int((now + self.ttl).timestamp()),
        }
        headers = {"kid": self._key.kid}
        token: str = jwt.encode(claims, self._key.private_pem, self._key.algorithm, headers=headers)
        return token

    def verify(self, token: str) -> Claims:
        """Verify signature (pinned algorithm, known kid), issuer, audience and expiry."""
        try:
            header = jwt.get_unverified_header(token)
        except JOSEError as exc:
            raise Unauthorized("malformed token") from exc
        known = self._verify_keys.get(str(header.get("kid")))
        if known is None:
            raise Unauthorized("token signed by an unknown key")
        public_pem, algorithm = known
        try:
            claims = jwt.decode(
                token,
                public_pem,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={f"require_{c}": True for c in ("exp", "iat", "sub", "iss", "aud")},
            )
        except JOSEError as exc:
            raise Unauthorized("invalid or expired token") from exc
        return Claims(subject=str(claims["sub"]), role=str(claims.get("role", "")))
