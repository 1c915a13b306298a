"""The local Sigstore's keys: Fulcio's file CA and Rekor's signing key, made once in the user cache.

Made with `cryptography` (already locked) at the first `microshop sigstore up` and kept in
CACHE/sigstore/keys (folder 0700, private keys and the CA key's password 0600), so every clone on
this machine trusts the same roots and a wiped .local/ keeps them. Fulcio's file CA insists on an
encrypted key (PKCS#8, a random password in its own file); Rekor's file signer takes a plain one.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from microshop_ci.core.cache import cache_root, locked

CA_YEARS = 10
PRIVATE = serialization.PrivateFormat.PKCS8
PUBLIC = serialization.PublicFormat.SubjectPublicKeyInfo
PEM = serialization.Encoding.PEM


@dataclass(frozen=True)
class Keys:
    """Where the key material lives."""

    folder: Path

    @property
    def fulcio_root(self) -> Path:
        """Fulcio's self-signed root certificate (the chain a verifier trusts)."""
        return self.folder / "fulcio-root.pem"

    @property
    def fulcio_key(self) -> Path:
        """Its private key (0600)."""
        return self.folder / "fulcio-root.key"

    @property
    def fulcio_password(self) -> Path:
        """The password of Fulcio's key (0600), for Fulcio's own 0600 config only."""
        return self.folder / "fulcio-root.password"

    @property
    def rekor_key(self) -> Path:
        """Rekor's checkpoint and entry signing key (0600)."""
        return self.folder / "rekor.key"

    @property
    def rekor_public(self) -> Path:
        """Rekor's public key (what Kyverno's `rekor.pubkey` and the trusted root name)."""
        return self.folder / "rekor.pub"

    def created(self) -> datetime:
        """When the CA began (the trusted root's start time for both services)."""
        cert = x509.load_pem_x509_certificate(self.fulcio_root.read_bytes())
        return cert.not_valid_before_utc


def default_keys() -> Keys:
    """CACHE/sigstore/keys."""
    return Keys(cache_root() / "sigstore" / "keys")


def write_private(path: Path, data: bytes) -> Path:
    """Write a file only its owner can read or write (keys, passwords, configs with them)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path


def root_certificate(key: ec.EllipticCurvePrivateKey, now: datetime) -> x509.Certificate:
    """A CA certificate as Fulcio's file CA wants it: CA, may sign certificates, no path below."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "MicroShop local Sigstore"),
            x509.NameAttribute(NameOID.COMMON_NAME, "MicroShop local Fulcio root"),
        ]
    )
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA384())
    )


def ensure_keys(keys: Keys) -> str:
    """Create whatever is missing (under a lock, so two `up`s never make two CAs)."""
    keys.folder.mkdir(parents=True, exist_ok=True)
    keys.folder.chmod(0o700)
    made = []
    with locked(keys.folder / ".lock"):
        ca_files = (keys.fulcio_root, keys.fulcio_key, keys.fulcio_password)
        if not all(path.is_file() for path in ca_files):
            ca_key = ec.generate_private_key(ec.SECP384R1())
            password = secrets.token_urlsafe(24)
            write_private(keys.fulcio_password, f"{password}\n".encode())
            encrypted = serialization.BestAvailableEncryption(password.encode())
            write_private(keys.fulcio_key, ca_key.private_bytes(PEM, PRIVATE, encrypted))
            cert = root_certificate(ca_key, datetime.now(UTC))
            keys.fulcio_root.write_bytes(cert.public_bytes(PEM))
            made.append("Fulcio root CA")
        if not (keys.rekor_key.is_file() and keys.rekor_public.is_file()):
            rekor_key = ec.generate_private_key(ec.SECP256R1())
            plain = serialization.NoEncryption()
            write_private(keys.rekor_key, rekor_key.private_bytes(PEM, PRIVATE, plain))
            keys.rekor_public.write_bytes(rekor_key.public_key().public_bytes(PEM, PUBLIC))
            made.append("Rekor signing key")
    return f"created {' and '.join(made)} in {keys.folder}" if made else ""
