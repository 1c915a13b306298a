"""How cosign signs and verifies in each mode: the flags, the key pair's place, a private Sigstore.

`signer` turns a mode (key, keyless) and the environment into cosign's signing and verifying
flags; `private_sigstore` adds what points keyless signing at a Sigstore other than the public one.
The sign stage (microshop_ci.sign.cli) and scripts/verify-release both use them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.core.errors import MicroshopError
from microshop_ci.sigstore.variables import FULCIO_URL, PRIVATE_SIGSTORE, REKOR_URL, TRUSTED_ROOT


class SignError(MicroshopError):
    """A step failed or cannot run; the message says which service and why."""


@dataclass(frozen=True)
class Signer:
    """How cosign signs and verifies in one mode (flags and, in key mode, the key pair)."""

    mode: str
    key_dir: Path
    sign_flags: tuple[str, ...]
    verify_flags: tuple[str, ...]

    @property
    def key(self) -> Path:
        """The private key (key mode)."""
        return self.key_dir / "cosign.key"

    @property
    def pub(self) -> Path:
        """The public key (key mode)."""
        return self.key_dir / "cosign.pub"

    @property
    def password_file(self) -> Path:
        """The private key's password, readable by the owner only (key mode)."""
        return self.key_dir / "password"


def signer(mode: str, key_dir: Path, env: Mapping[str, str]) -> Signer:
    """The flags of a mode. Offline key mode: no Rekor upload, no TUF signing config.

    cosign v3 defaults --use-signing-config to true and then refuses --new-bundle-format=false;
    the legacy format always goes with --use-signing-config=false (keyless then uses cosign's
    default Fulcio and Rekor); the new bundle format keeps the signing config.
    """
    new_bundle = env.get("MICROSHOP_COSIGN_BUNDLE", "legacy") == "new"
    fmt = ("--new-bundle-format=true",) if new_bundle else (
        "--new-bundle-format=false", "--use-signing-config=false")  # fmt: skip
    if mode == "key":
        sign_flags: tuple[str, ...] = (
            "--key", str(key_dir / "cosign.key"), "--tlog-upload=false",
            "--use-signing-config=false", fmt[0], "--yes",
        )  # fmt: skip
        verify_flags: tuple[str, ...] = (
            "--key", str(key_dir / "cosign.pub"), "--insecure-ignore-tlog=true")  # fmt: skip
    else:
        for var in ("COSIGN_CERTIFICATE_IDENTITY", "COSIGN_CERTIFICATE_OIDC_ISSUER"):
            if not env.get(var):
                raise SignError(f"--mode keyless needs {var} (the release workflow sets it)")
        if not env.get("ACTIONS_ID_TOKEN_REQUEST_URL"):
            raise SignError(
                "--mode keyless needs a GitHub Actions OIDC token (id-token: write); "
                "it cannot run here"
            )
        private_signing, private_verifying = private_sigstore(env)
        sign_flags = (*fmt, *private_signing, "--yes")
        verify_flags = (
            "--certificate-identity", env["COSIGN_CERTIFICATE_IDENTITY"],
            "--certificate-oidc-issuer", env["COSIGN_CERTIFICATE_OIDC_ISSUER"],
            *private_verifying,
        )  # fmt: skip
    # A registry that speaks plain HTTP on a non-loopback name (kind-registry:5000) must be
    # named as such; loopback registries are plain HTTP by default.
    if plain_http(env):
        sign_flags += ("--allow-http-registry",)
        verify_flags += ("--allow-http-registry",)
    return Signer(mode, key_dir, sign_flags, verify_flags)


def private_sigstore(env: Mapping[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """cosign's (signing, verifying) flags for a private Sigstore (all three variables or none).

    Unset, keyless signing uses the public Sigstore (Fulcio, Rekor and cosign's own trust root).
    Set, the same steps sign with that Fulcio and Rekor and trust only its root: this is all that
    differs when the release path runs against the local Sigstore of `microshop sigstore`. A trusted
    root that names no CT log has no SCT to check: verification then skips the SCT check.
    """
    given = {name: env.get(name, "") for name in PRIVATE_SIGSTORE}
    if not any(given.values()):
        return (), ()
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise SignError(f"a private Sigstore needs {', '.join(missing)} as well")
    trusted_root = Path(given[TRUSTED_ROOT])
    try:
        ct_logs = json.loads(trusted_root.read_text()).get("ctlogs")
    except (OSError, ValueError, AttributeError):
        raise SignError(f"{TRUSTED_ROOT}: {trusted_root} is not a trusted root (JSON)") from None
    common = (
        "--rekor-url",
        given[REKOR_URL],
        "--trusted-root",
        str(trusted_root),
    )
    signing = ("--fulcio-url", given[FULCIO_URL], *common)
    verifying = common if ct_logs else (*common, "--insecure-ignore-sct")
    return signing, verifying


def plain_http(env: Mapping[str, str]) -> bool:
    """MICROSHOP_REGISTRY_PLAIN_HTTP=true: the registry is plain HTTP though not on loopback."""
    return env.get("MICROSHOP_REGISTRY_PLAIN_HTTP", "false") == "true"
