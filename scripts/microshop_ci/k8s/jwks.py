"""Turn the API's JWT signing key (PEM, RSA or EC) into the public JWKS Istio validates against."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

_CURVES = {"secp256r1": ("P-256", "ES256", 32), "secp384r1": ("P-384", "ES384", 48)}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return _b64(value.to_bytes(length, "big"))


def public_jwk(pem: bytes) -> dict[str, Any]:
    """The public JWK of a PEM private key, with kid = its RFC 7638 thumbprint."""
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an unencrypted PEM private key ({exc})") from exc
    members: dict[str, str]
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        members = {"e": _int(numbers.e), "kty": "RSA", "n": _int(numbers.n)}
        alg = "RS256"
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in _CURVES:
            raise ValueError(f"unsupported EC curve {key.curve.name} (use P-256 or P-384)")
        crv, alg, size = _CURVES[key.curve.name]
        point = key.public_key().public_numbers()
        members = {"crv": crv, "kty": "EC", "x": _int(point.x, size), "y": _int(point.y, size)}
    else:
        raise TypeError("unsupported key type (use RSA or EC)")
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = _b64(hashlib.sha256(canonical).digest())
    return {**members, "alg": alg, "kid": kid, "use": "sig"}


def jwks_json(pem: bytes) -> str:
    """A compact JWKS document holding the public half of the signing key."""
    return json.dumps({"keys": [public_jwk(pem)]}, separators=(",", ":"), sort_keys=True)
