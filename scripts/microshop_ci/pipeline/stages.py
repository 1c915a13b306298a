"""The pipeline's stages, in the order the pull request and release workflows run them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from microshop_ci.pipeline.model import Stage, Step


@dataclass(frozen=True)
class Options:
    """What a run was asked for."""

    repo: Path
    report_dir: Path
    advisory_source: str  # "offline" or "online"


def build_stages(opts: Options) -> list[Stage]:
    """Every stage with its commands; each command is a script that the workflows also call."""
    s = opts.repo / "scripts"
    r = opts.report_dir
    images = r / "images.json"
    return [
        Stage(
            "checks",
            "lint, type-check and tests",
            (
                Step(
                    "lint-type-test",
                    (
                        str(s / "test"),
                        "-m",
                        "not slow and not e2e",
                        f"--junitxml={r / 'checks' / 'junit.xml'}",
                    ),
                ),
            ),
        ),
        Stage(
            "gates",
            "security gates: Bandit, pip-audit, Trivy config and secret, workflow linters",
            (
                Step(
                    "gates",
                    (
                        str(s / "gates"),
                        f"--{opts.advisory_source}",
                        "--report-dir",
                        str(r / "gates"),
                    ),
                    explain=r / "gates" / "summary.md",
                ),
            ),
        ),
        Stage(
            "build",
            "hermetic image builds, pushed by digest to the local registry",
            (
                Step("base-image", (str(s / "build-base-image"),)),
                Step("registry", (str(s / "registry"), "up")),
                Step("build-push", (str(s / "build-images"), "--push", "--out", str(images))),
                Step(
                    "image-scans",
                    (
                        str(s / "scan-images"),
                        f"--{opts.advisory_source}",
                        "--images",
                        str(images),
                        "--report-dir",
                        str(r / "image-gates"),
                    ),
                    explain=r / "image-gates" / "summary.md",
                ),
            ),
        ),
        Stage(
            "sign",
            "SBOM, cosign signature and SBOM attestation with the local key, then verification",
            (
                Step("registry", (str(s / "registry"), "up")),
                Step(
                    "supply-chain",
                    (
                        str(s / "supply-chain"),
                        "--mode",
                        "key",
                        "--images",
                        str(images),
                        "--out-dir",
                        str(r / "supply-chain"),
                    ),
                ),
            ),
            needs=(images,),
        ),
        Stage(
            "admission",
            "Kyverno policies and manifest validators over every overlay and every pushed image",
            (
                Step("registry", (str(s / "registry"), "up")),
                Step("kyverno-test", (str(s / "kyverno-test"),)),
                Step(
                    "validate-manifests",
                    (
                        str(s / "validate-manifests"),
                        "--json",
                        str(r / "admission" / "manifests.json"),
                    ),
                ),
                Step(
                    "admission-check",
                    (
                        str(s / "admission-check"),
                        "--images",
                        str(images),
                        "--json",
                        str(r / "admission" / "admission.json"),
                    ),
                ),
            ),
            needs=(images,),
        ),
        Stage(
            "smoke",
            "the signed images together on FerretDB: a real order through the storefront",
            (
                Step("registry", (str(s / "registry"), "up")),
                Step(
                    "smoke",
                    (str(s / "smoke"), "--images", str(images), "--json", str(r / "smoke.json")),
                ),
            ),
            needs=(images,),
        ),
    ]


STAGE_NAMES = ("checks", "gates", "build", "sign", "admission", "smoke")
