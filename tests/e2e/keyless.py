"""cosign signing keyless against the local Sigstore as one job (microshop_ci.sigstore.jobs):
cosign fetches the job's OIDC token from the token service stand-in exactly as on GitHub, and the
local Fulcio certifies that identity. Used by the cluster's keyless admission tests.
"""

from __future__ import annotations

from pathlib import Path

from microshop_ci.sign.signer import private_sigstore
from microshop_ci.sigstore.jobs import Job, private_sigstore_env
from microshop_ci.sigstore.settings import Settings
from tests.e2e.kube import run_tool

SHA = "5" * 40  # the commit every test job claims to run
LEGACY = ("--new-bundle-format=false", "--use-signing-config=false")


def sign(cosign: str, ref: str, sigstore: Settings, job: Job, *flags: str) -> str:
    """cosign sign REF keyless as job (legacy `.sig`, plain HTTP registry); cosign's output."""
    return _keyless(cosign, "sign", ref, sigstore, job, *flags)


def attest(cosign: str, ref: str, sigstore: Settings, job: Job, kind: str, predicate: Path) -> str:
    """cosign attest REF keyless as job with that predicate (legacy `.att`)."""
    return _keyless(
        cosign, "attest", ref, sigstore, job, "--type", kind, "--predicate", str(predicate)
    )


def _keyless(cosign: str, command: str, ref: str, sigstore: Settings, job: Job, *flags: str) -> str:
    signing, _ = private_sigstore(private_sigstore_env(sigstore))
    return run_tool(
        cosign,
        command,
        *LEGACY,
        *signing,
        "--allow-http-registry",
        "--allow-insecure-registry",
        "--yes",
        *flags,
        ref,
        env=job.token_env(sigstore),
    )
