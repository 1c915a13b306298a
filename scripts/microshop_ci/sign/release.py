"""Verify one released image against the exact identity of this repository's release workflow.

Run by release.yml's `verify` job (scripts/verify-release) after keyless signing: the cosign
signature, the CycloneDX SBOM attestation and the SLSA provenance attestation must carry the
certificate identity `https://github.com/OWNER/NAME/.github/workflows/release.yml@REF` and the
OIDC issuer, and the provenance must name that workflow at that ref as its builder and this
repository at GITHUB_SHA as its source. A private Sigstore (MICROSHOP_SIGSTORE_*, see
microshop_ci.sign.signer) is trusted instead of the public one when set. The verified documents and
the SBOM are written to OUT_DIR as the release's assets.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from microshop_ci.core.images import ImagesFileError, read_images
from microshop_ci.core.paths import REPORTS_DIR
from microshop_ci.core.tools import ToolError, pinned_tool, run_tool
from microshop_ci.sign import provenance
from microshop_ci.sign.cli import PROVENANCE_TYPE
from microshop_ci.sign.sbom import predicate_from_attestations
from microshop_ci.sign.signer import SignError, private_sigstore

REQUIRED_ENV = (
    "COSIGN_CERTIFICATE_IDENTITY",
    "COSIGN_CERTIFICATE_OIDC_ISSUER",
    "GITHUB_REPOSITORY",
    "GITHUB_REF",
    "GITHUB_SHA",
)


def expected_identity(env: Mapping[str, str]) -> tuple[str, str]:
    """(identity, issuer) after checking the identity is this repository's release workflow."""
    for name in REQUIRED_ENV:
        if not env.get(name):
            raise SignError(f"{name} is not set")
    workflow = f"{env['GITHUB_REPOSITORY']}/.github/workflows/release.yml"
    expected = f"https://github.com/{workflow}@{env['GITHUB_REF']}"
    identity = env["COSIGN_CERTIFICATE_IDENTITY"]
    if identity != expected:
        raise SignError(f"COSIGN_CERTIFICATE_IDENTITY is '{identity}', expected '{expected}'")
    return identity, env["COSIGN_CERTIFICATE_OIDC_ISSUER"]


def verify(images: Path, service: str, sbom_dir: Path, out_dir: Path) -> None:
    """cosign verify, verify-attestation of the SBOM and the provenance, the provenance's claims;
    assets into out_dir."""
    env = dict(os.environ)
    identity, issuer = expected_identity(env)
    try:
        ref = read_images(images, require=[service])[service].image.ref
    except ImagesFileError as exc:
        raise SignError(str(exc)) from None
    sbom = sbom_dir / service / "sbom.cdx.json"
    if not sbom.is_file() or sbom.stat().st_size == 0:
        raise SignError(f"no SBOM for {service} at {sbom} (scripts/supply-chain --out-dir)")
    _, private = private_sigstore(env)
    out_dir.mkdir(parents=True, exist_ok=True)
    cosign = pinned_tool("cosign")
    pinned = ["--certificate-identity", identity, "--certificate-oidc-issuer", issuer, *private]
    steps = {
        f"{service}.signature.json": (
            f"verify signature of {ref} as {identity}",
            [cosign, "verify", *pinned, ref],
        ),
        f"{service}.attestations.json": (
            "verify the CycloneDX SBOM attestation",
            [cosign, "verify-attestation", "--type", "cyclonedx", *pinned, ref],
        ),
        f"{service}.provenance.json": (
            "verify the SLSA provenance attestation",
            [cosign, "verify-attestation", "--type", PROVENANCE_TYPE, *pinned, ref],
        ),
    }
    for name, (what, argv) in steps.items():
        print(f"[verify-release] {what}", file=sys.stderr, flush=True)
        try:
            result = run_tool(argv)
        except ToolError as exc:
            raise SignError(f"{what} failed: {exc}") from None
        (out_dir / name).write_text(result.stdout)
    _check_provenance(out_dir / f"{service}.provenance.json", env)
    shutil.copyfile(sbom, out_dir / f"{service}.sbom.cdx.json")
    print(
        f"[verify-release] verified {service}: {ref}; release assets in {out_dir}", file=sys.stderr
    )


def _check_provenance(verified: Path, env: Mapping[str, str]) -> None:
    """SignError naming what the verified provenance gets wrong about this release run."""
    try:
        attested = predicate_from_attestations(verified.read_text(), provenance.PREDICATE_TYPE)
        problems = provenance.check(attested, env)
    except (ValueError, KeyError, provenance.ProvenanceError) as exc:
        raise SignError(f"the SLSA provenance of {verified.name}: {exc}") from None
    if problems:
        raise SignError(f"the SLSA provenance is not this release's: {'; '.join(problems)}")
    print("[verify-release] the provenance names this workflow, ref and commit", file=sys.stderr)


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop verify-release --images FILE --service NAME [--sbom-dir DIR] [--out-dir DIR]`."""
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--sbom-dir", type=Path, default=REPORTS_DIR / "supply-chain")
    parser.add_argument("--out-dir", type=Path, default=REPORTS_DIR / "release")


def run_command(args: argparse.Namespace) -> int:
    """Verify the released image and write its release assets."""
    verify(args.images, args.service, args.sbom_dir, args.out_dir)
    return 0
