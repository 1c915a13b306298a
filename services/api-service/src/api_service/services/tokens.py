"""JWT issue and verification: sign with the key ring's current key, trust its retained ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from jose import jwt
from jose.exceptions import JOSEError

from api_service.errors import Unauthorized
from api_service.services.keyring import KeyRing


@dataclass(frozen=True)
class Claims:
    """What a verified token says: who (sub) and with which role."""

    subject: str
    role: str


class TokenService:
    """Issues short-lived tokens and verifies them against the trusted keys only."""

    def __init__(self, keys: KeyRing, issuer: str, audience: str, ttl_minutes: int) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = timedelta(minutes=ttl_minutes)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public keys as a JWK Set: the current one, then the retained previous ones."""
        return {"keys": [key.public_jwk for key in self.keys.published()]}

    def issue(self, subject: str, role: str) -> str:
        """Sign a token for subject with iss, aud, iat, exp and role."""
        key = self.keys.signing()
        now = self.keys.clock()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "role": role,
            "iat": int(now.timestamp()),
            "exp": int((now + self.ttl).timestamp()),
        }
        headers = {"kid": key.kid}
        token: str = jwt.encode(claims, key.private_pem, key.public.algorithm, headers=headers)
        return token

    def verify(self, token: str) -> Claims:
        """Verify signature (pinned algorithm, trusted kid), issuer, audience and expiry."""
        try:
            header = jwt.get_unverified_header(token)
        except JOSEError as exc:
            raise Unauthorized("malformed token") from exc
        known = self.keys.trusted(str(header.get("kid")))
        if known is None:
            raise Unauthorized("token signed by an unknown key")
        # exp is required and checked below, against the key ring's clock (the one retention
        # uses); jose's require_exp would turn its own wall-clock check back on.
        required = {f"require_{c}": True for c in ("iat", "sub", "iss", "aud")}
        try:
            claims = jwt.decode(
                token,
                known.verifier,
                algorithms=[known.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={**required, "verify_exp": False},
            )
        except JOSEError as exc:
            raise Unauthorized("invalid or expired token") from exc
        expires = claims.get("exp")
        if not isinstance(expires, int) or expires <= self.keys.clock().timestamp():
            raise Unauthorized("invalid or expired token")
        return Claims(subject=str(claims["sub"]), role=str(claims.get("role", "")))
