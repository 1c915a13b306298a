"""The premise of the ecdsa (CVE-2024-23342) exception: our JWT code never loads ecdsa."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO_ROOT

PROBE = """
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk, jwt

for key in (ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)):
    alg = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    token = jwt.encode({"sub": "x"}, pem, algorithm=alg)
    public = jwk.construct(pem, alg).public_key()
    assert jwt.decode(token, public.to_dict(), algorithms=[alg])["sub"] == "x"
    assert type(public).__module__ == "jose.backends.cryptography_backend", type(public)
print(sorted(m for m in sys.modules if m == "ecdsa" or m.startswith("ecdsa.")))
"""


def test_python_jose_signs_and_verifies_ec_and_rsa_without_importing_ecdsa() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_no_project_code_imports_ecdsa() -> None:
    pattern = re.compile(r"^\s*(import ecdsa|from ecdsa\b)", re.MULTILINE)
    offenders = [
        path.relative_to(REPO_ROOT).as_posix()
        for folder in ("services", "scripts")
        for path in (REPO_ROOT / folder).rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
