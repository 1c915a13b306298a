"""New values for the shop's secrets, written as a new KV v2 version (check-and-set).

The JWT key's rotation keeps the key it replaces in `previous_keys` (public half and the time it
stopped signing), so the api-service keeps accepting, and publishing, the tokens it signed until
they expire; entries older than the retention are dropped.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from microshop_ci.k8s.jwks import public_jwk
from microshop_ci.secrets import store
from microshop_ci.secrets.layout import SECRETS

# Longer than any token the api-service can issue (JWT_TTL_MINUTES <= 120) plus its grace.
DEFAULT_RETENTION = timedelta(hours=3)
ROOT_USERNAME = "microshop-root"


@dataclass(frozen=True)
class Rotated:
    """What a rotation wrote: the path, its new version, and a public note (the new kid)."""

    path: str
    version: int
    note: str = ""


def new_ec_key_pem() -> str:
    """A fresh EC P-256 private key, PKCS8 PEM (what the api-service signs with)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_pem(private_pem: str) -> str:
    """The SubjectPublicKeyInfo PEM of a PEM private key."""
    key = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def jwt_values(current: dict[str, str], now: datetime, retention: timedelta) -> dict[str, str]:
    """A new signing key; the replaced one joins previous_keys, expired entries leave."""
    previous = json.loads(current.get("previous_keys") or '{"keys": []}')["keys"]
    kept = [
        entry for entry in previous if datetime.fromisoformat(entry["retired_at"]) + retention > now
    ]
    if current.get("private_key"):
        stamp = now.isoformat(timespec="seconds").replace("+00:00", "Z")
        kept.append({"public_key": public_pem(current["private_key"]), "retired_at": stamp})
    document = json.dumps({"keys": kept}, indent=2)
    return {"private_key": new_ec_key_pem(), "previous_keys": document}


def new_values(kind: str, current: dict[str, str], retention: timedelta) -> dict[str, str]:
    """The next value of a secret kind (every value random, but the root user's name)."""
    if kind == "jwt":
        return jwt_values(current, datetime.now(UTC), retention)
    if kind == "mongodb-root":
        return {"username": ROOT_USERNAME, "password": secrets.token_urlsafe(32)}
    (field,) = SECRETS[kind].fields
    return {field: secrets.token_urlsafe(32)}


def rotate(kind: str, retention: timedelta = DEFAULT_RETENTION) -> Rotated:
    """Write the next value of a secret kind, only over the version it was computed from."""
    secret = SECRETS[kind]
    current = store.read(secret)
    values = new_values(kind, current.data, retention)
    version = store.write(secret, values, after=current.version)
    note = f"kid {public_jwk(values['private_key'].encode())['kid']}" if kind == "jwt" else ""
    return Rotated(secret.path, version, note)


def seed() -> list[Rotated]:
    """Write a first value of every secret that has none yet (leave the others alone)."""
    written = []
    for kind, secret in SECRETS.items():
        if store.read(secret).version == 0:
            written.append(rotate(kind))
    return written
