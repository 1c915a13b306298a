"""The sign stage: SBOM (syft), cosign signature and SBOM attestation, then verification.

`microshop sign` (scripts/supply-chain) runs this module; the PR workflow, the release workflow
and the local pipeline all call that script. Per service, in OUT_DIR/SERVICE/: sbom.cdx.json,
verify.json, attestation.json, and the logs of each cosign call.

--mode key      local and PR: a cosign key pair in --key-dir (default .local/cosign,
                git-ignored; generated on first use, password in a 0600 file, never printed),
                offline: no transparency log, nothing leaves the machine but the local registry.
--mode keyless  release on GitHub Actions: Fulcio certificate for the workflow's OIDC identity,
                Rekor entry; verification pins COSIGN_CERTIFICATE_IDENTITY and
                COSIGN_CERTIFICATE_OIDC_ISSUER; MICROSHOP_SIGSTORE_{FULCIO_URL,REKOR_URL,
                TRUSTED_ROOT} point it at a private Sigstore instead of the public one.
--mode keyless-local  the keyless steps against the local Sigstore (`microshop sigstore up`), signed
                as this repository's release.yml on tag MICROSHOP_RELEASE_TAG (default v0.0.0)
                with a token of the token service stand-in (microshop_ci.sigstore.jobs).
Signatures use cosign's legacy format (`.sig` tags), which Kyverno's `type: Cosign` reads;
MICROSHOP_COSIGN_BUNDLE=new switches to the Sigstore bundle format (OCI referrers).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from microshop_ci.core.images import ImagesFileError, read_images
from microshop_ci.core.log import log
from microshop_ci.core.paths import LOCAL_DIR, REPO_ROOT, REPORTS_DIR
from microshop_ci.core.result import SignedImage, SignResult, write_result
from microshop_ci.core.tools import ToolError, locked_microshop, pinned_tool, run_tool
from microshop_ci.sign import provenance, sbom
from microshop_ci.sign.signer import Signer, SignError, plain_http, signer

STEPS = ("sbom", "sign", "attest", "verify")
PROVENANCE_TYPE = "slsaprovenance1"
PREDICATE_FILES = {"cyclonedx": "sbom.cdx.json", PROVENANCE_TYPE: "provenance.json"}
ATTESTATION_FILES = {
    "cyclonedx": "attestation.json",
    PROVENANCE_TYPE: "provenance-attestation.json",
}
LOOPBACK = re.compile(r"^(127\.0\.0\.1|localhost)[:/]")


class Cosign:
    """cosign with the key's password in its environment only (never on a command line)."""

    def __init__(self, binary: str, how: Signer) -> None:
        self.binary = binary
        self.how = how

    def _env(self, signing: bool) -> dict[str, str]:
        if not (signing and self.how.mode == "key"):
            return {}
        if not self.how.password_file.is_file():
            raise SignError(
                f"no password file for {self.how.key} (expected {self.how.password_file})"
            )
        return {"COSIGN_PASSWORD": self.how.password_file.read_text()}

    def ensure_key(self, may_create: bool) -> None:
        """Key mode: make the key pair on first use (signing steps only); check the public key."""
        if self.how.mode != "key":
            return
        if not self.how.key.is_file():
            if not may_create:
                raise SignError(f"no private key in {self.how.key_dir} (run a sign step first)")
            log(
                f"generating a local cosign key pair in {self.how.key_dir} "
                "(git-ignored; never committed or baked in)"
            )
            self.how.key_dir.mkdir(parents=True, exist_ok=True)
            self.how.key_dir.chmod(0o700)
            fd = os.open(self.how.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(32))
            try:
                run_tool(
                    [self.binary, "generate-key-pair", "--output-key-prefix", "cosign"],
                    cwd=self.how.key_dir,
                    env=self._env(signing=True),
                )
            except ToolError:
                raise SignError(f"cosign generate-key-pair failed in {self.how.key_dir}") from None
        if not self.how.pub.is_file():
            raise SignError(f"no public key {self.how.pub}")

    def call(self, args: Sequence[str], out: Path, err: Path, *, signing: bool) -> bool:
        """Run cosign with stdout to out and stderr to err; True when it succeeded."""
        result = run_tool([self.binary, *args], ok_codes=None, env=self._env(signing))
        out.write_text(result.stdout)
        if err != out:
            err.write_text(result.stderr)
        else:
            with out.open("a") as fh:
                fh.write(result.stderr)
        return result.returncode == 0


def _failed(logfile: Path, message: str) -> SignError:
    sys.stderr.write(logfile.read_text())
    return SignError(message)


def _pyproject(service: str) -> Path | None:
    """The service's pyproject, or None for an image that is one Go binary (FerretDB)."""
    path = REPO_ROOT / "services" / service / "pyproject.toml"
    return path if path.is_file() else None


def _check_sbom(kind: str, file: Path, service: str) -> str:
    """sbom.check_file of an SBOM or a verified attestation; its summary line, or SignError."""
    problems, line = sbom.check_file(kind, file, _pyproject(service), service)
    if problems:
        for problem in problems:
            print(f"sbom: {file}: {problem}", file=sys.stderr)
        what = "the attested SBOM" if kind == "attestation" else "the SBOM"
        raise SignError(f"{service}: {what} is incomplete")
    return line


def sign_service(
    service: str, ref: str, out_dir: Path, steps: Sequence[str], cosign: Cosign, syft: str
) -> None:
    """Every asked step for one image, in order; the first failure raises SignError."""
    folder = out_dir / service
    folder.mkdir(parents=True, exist_ok=True)
    how = cosign.how
    kinds = attested_kinds(how)
    if "attest" in steps and PROVENANCE_TYPE in kinds:
        # written first: a missing runner variable stops the stage before anything is signed
        try:
            provenance.write(folder / "provenance.json", os.environ)
        except provenance.ProvenanceError as exc:
            raise SignError(f"{service}: {exc}") from None
    if "sbom" in steps:
        _sbom(service, ref, folder, syft)
    if "sign" in steps:
        log(f"{service}: cosign sign ({how.mode}) {ref}")
        logfile = folder / "sign.log"
        if not cosign.call(["sign", *how.sign_flags, ref], logfile, logfile, signing=True):
            raise _failed(logfile, f"{service}: cosign sign failed")
    if "attest" in steps:
        for kind in kinds:
            _attest(service, ref, folder, kind, cosign)
    if "verify" in steps:
        _verify(service, ref, folder, kinds, cosign)


def attested_kinds(how: Signer) -> tuple[str, ...]:
    """What is attested: the SBOM always; keyless, also the run's SLSA provenance."""
    return ("cyclonedx", PROVENANCE_TYPE) if how.mode == "keyless" else ("cyclonedx",)


def _sbom(service: str, ref: str, folder: Path, syft: str) -> None:
    log(f"{service}: CycloneDX SBOM of {ref} (syft)")
    insecure = plain_http(os.environ) or LOOPBACK.match(ref) is not None
    env = {"SYFT_CHECK_FOR_APP_UPDATE": "false"}
    if insecure:
        env["SYFT_REGISTRY_INSECURE_USE_HTTP"] = "true"
    target = f"cyclonedx-json={folder / 'sbom.cdx.json'}"
    argv = [syft, "scan", f"registry:{ref}", "-q", "-o", target]
    result = run_tool(argv, ok_codes=None, env=env)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SignError(f"{service}: syft failed")
    print(_check_sbom("sbom", folder / "sbom.cdx.json", service), file=sys.stderr)


def _attest(service: str, ref: str, folder: Path, kind: str, cosign: Cosign) -> None:
    predicate = folder / PREDICATE_FILES[kind]
    if not predicate.is_file():  # the provenance is written at the start of the stage
        raise SignError(f"{service}: no SBOM in {folder} (run the sbom step)")
    log(f"{service}: cosign attest --type {kind} {ref}")
    logfile = folder / f"attest-{kind}.log"
    args = ["attest", *cosign.how.sign_flags, "--type", kind, "--predicate", str(predicate)]
    if not cosign.call([*args, ref], logfile, logfile, signing=True):
        raise _failed(logfile, f"{service}: cosign attest --type {kind} failed")


def _verify(service: str, ref: str, folder: Path, kinds: Sequence[str], cosign: Cosign) -> None:
    flags = cosign.how.verify_flags
    log(f"{service}: cosign verify {ref}")
    logfile = folder / "verify.log"
    if not cosign.call(["verify", *flags, ref], folder / "verify.json", logfile, signing=False):
        raise _failed(logfile, f"{service}: signature verification FAILED for {ref}")
    for kind in kinds:
        log(f"{service}: cosign verify-attestation --type {kind} {ref}")
        logfile = folder / f"verify-attestation-{kind}.log"
        args = ["verify-attestation", *flags, "--type", kind, ref]
        if not cosign.call(args, folder / ATTESTATION_FILES[kind], logfile, signing=False):
            raise _failed(logfile, f"{service}: {kind} attestation verification FAILED for {ref}")
    print(_check_sbom("attestation", folder / "attestation.json", service), file=sys.stderr)
    log(f"{service}: verified the signature and every attestation of {ref}")


def run(args: argparse.Namespace) -> None:
    """Check the options, then sign every service of the images file (or those asked for)."""
    steps = tuple(args.step or STEPS)
    images = args.images
    if not images.is_file():
        raise SignError(f"{images}: not found (run scripts/build-images --push --out FILE first)")
    try:
        records = read_images(images)
    except ImagesFileError as exc:
        raise SignError(str(exc)) from None
    services = args.service or sorted(records)
    missing = [s for s in services if s not in records]
    if missing:
        raise SignError(
            f"{images} has no image for {missing[0]!r} (has: {', '.join(sorted(records))})"
        )
    if args.mode == "keyless-local":
        os.environ.update(local_release_env())  # for cosign, syft and the provenance alike
    how = signer("key" if args.mode == "key" else "keyless", args.key_dir, os.environ)
    cosign = Cosign(pinned_tool("cosign"), how)
    syft = pinned_tool("syft") if "sbom" in steps else ""
    signing = "sign" in steps or "attest" in steps
    if how.mode == "key" and not signing and not how.pub.is_file():
        raise SignError(f"no public key {how.pub}")
    cosign.ensure_key(may_create=signing)
    for service in services:
        sign_service(service, records[service].ref, args.out_dir, steps, cosign, syft)


def local_release_env() -> dict[str, str]:
    """What --mode keyless-local adds: the release job's signing environment on the local
    Sigstore, from `microshop sigstore` in the locked environment (which holds what minting a
    token needs; this stage stays on the standard library); SignError when it is not up."""
    status = run_tool(locked_microshop("sigstore", "status"), ok_codes=None)
    if status.returncode != 0:
        down = [line.split()[0] for line in status.stdout.splitlines() if line.endswith(" down")]
        why = ", ".join(down) or status.stderr.strip().removeprefix("error: ")
        raise SignError(f"the local Sigstore is not up ({why}): run microshop sigstore up")
    job = run_tool(locked_microshop("sigstore", "release-job"), ok_codes=None)
    if job.returncode != 0:
        raise SignError(job.stderr.strip() or "microshop sigstore release-job failed")
    found = dict(shlex.split(line)[0].split("=", 1) for line in job.stdout.splitlines() if line)
    log(f"keyless-local: signing as {found['COSIGN_CERTIFICATE_IDENTITY']} (local Sigstore)")
    return found


def _json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def outcome(out_dir: Path) -> SignResult:
    """Per service in OUT_DIR: SBOM components, signature and attestation verified or not."""
    services = {}
    for folder in sorted(p for p in out_dir.glob("*") if p.is_dir()):
        sbom = _json(folder / "sbom.cdx.json")
        verified = _json(folder / "verify.json")
        attestation = folder / "attestation.json"
        services[folder.name] = SignedImage(
            sbom_components=len(sbom.get("components", [])) if isinstance(sbom, dict) else 0,
            signature_verified=isinstance(verified, list) and len(verified) > 0,
            attestation_verified=attestation.is_file() and attestation.stat().st_size > 0,
        )
    return SignResult(services)


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop sign --mode key|keyless|keyless-local [...]` (scripts/supply-chain)."""
    parser.add_argument("--mode", required=True, choices=("key", "keyless", "keyless-local"))
    parser.add_argument("--images", type=Path, default=REPORTS_DIR / "images.json",
                        help="service -> {ref: REGISTRY/NAME@sha256:...}")  # fmt: skip
    parser.add_argument("--service", action="append", default=[], help="only these services")
    parser.add_argument("--out-dir", type=Path, default=REPORTS_DIR / "supply-chain")
    parser.add_argument("--key-dir", type=Path, default=LOCAL_DIR / "cosign")
    parser.add_argument("--step", action="append", default=[], choices=STEPS)
    parser.add_argument("--result", type=Path, default=None,
                        help="write the stage's typed result (core.result) here")  # fmt: skip


def run_command(args: argparse.Namespace) -> int:
    """Sign; the typed result is written whether it passed or not."""
    try:
        run(args)
    finally:
        if args.result is not None:
            write_result(args.result, outcome(args.out_dir))
    return 0
