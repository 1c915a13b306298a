"""The pipeline's stages, in the order the pull request and release workflows run them.

Every step is a `microshop SUBCOMMAND` of this interpreter (core.tools.microshop), the same
subcommand the workflows reach through the one-line scripts/<name>; each stage's last step writes
the stage's typed result (core.result) to REPORT_DIR/STAGE/result.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from microshop_ci.core.result import RESULT_FILE
from microshop_ci.core.tools import microshop
from microshop_ci.pipeline.model import Stage, Step


@dataclass(frozen=True)
class Options:
    """What a run was asked for."""

    repo: Path
    report_dir: Path
    advisory_source: str  # "offline" or "online"

    def result(self, stage: str) -> str:
        """Where a stage writes its typed result."""
        return str(self.report_dir / stage / RESULT_FILE)


def registry_up() -> Step:
    """Start the local registry unless one answers (core.registry)."""
    return Step("registry", microshop("registry", "up"))


def build_stages(opts: Options) -> list[Stage]:
    """Every stage with its steps."""
    r = opts.report_dir
    images = r / "images.json"
    source = f"--{opts.advisory_source}"
    return [
        Stage(
            "checks",
            "lint, type-check and tests",
            (
                Step(
                    "lint-type-test",
                    microshop(
                        "test",
                        "--result",
                        opts.result("checks"),
                        "-m",
                        "not slow and not e2e",
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
                    microshop(
                        "gates",
                        source,
                        "--report-dir",
                        str(r / "gates"),
                        "--result",
                        opts.result("gates"),
                    ),
                    explain=r / "gates" / "summary.md",
                ),
            ),
        ),
        Stage(
            "build",
            "hermetic image builds, pushed by digest to the local registry",
            (
                Step("base-image", microshop("base-image")),
                registry_up(),
                Step(
                    "build-push",
                    microshop("build-images", "--push", "--out", str(images)),
                ),
                Step(
                    "image-scans",
                    microshop(
                        "scan-images",
                        source,
                        "--images",
                        str(images),
                        "--report-dir",
                        str(r / "image-gates"),
                        "--result",
                        opts.result("build"),
                    ),
                    explain=r / "image-gates" / "summary.md",
                ),
            ),
        ),
        Stage(
            "sign",
            "SBOM, cosign signature and SBOM attestation with the local key, then verification",
            (
                registry_up(),
                Step(
                    "supply-chain",
                    microshop(
                        "sign",
                        "--mode",
                        "key",
                        "--images",
                        str(images),
                        "--out-dir",
                        str(r / "supply-chain"),
                        "--result",
                        opts.result("sign"),
                    ),
                ),
            ),
            needs=(images,),
        ),
        Stage(
            "admission",
            "Kyverno policies and manifest validators over every overlay and every pushed image",
            (
                registry_up(),
                Step("kyverno-test", microshop("kyverno-test")),
                Step(
                    "validate-manifests",
                    microshop(
                        "validate-manifests",
                        "--json",
                        str(r / "admission" / "manifests.json"),
                    ),
                ),
                Step(
                    "admission-check",
                    microshop(
                        "admission-check",
                        "--images",
                        str(images),
                        "--json",
                        str(r / "admission" / "admission.json"),
                        "--result",
                        opts.result("admission"),
                    ),
                ),
            ),
            needs=(images,),
        ),
        Stage(
            "smoke",
            "the signed images together on FerretDB: a real order through the storefront",
            (
                registry_up(),
                Step(
                    "smoke",
                    microshop(
                        "smoke",
                        "--images",
                        str(images),
                        "--json",
                        str(r / "smoke.json"),
                        "--result",
                        opts.result("smoke"),
                    ),
                ),
            ),
            needs=(images,),
        ),
    ]


STAGE_NAMES = ("checks", "gates", "build", "sign", "admission", "smoke")


def rescan_stage(opts: Options, ref: str) -> Stage:
    """`--rescan REF`: one release (a tag of .local/releases, or a record folder named after its
    tag) through the re-scan (microshop_ci.rescan) with this run's advisory source."""
    folder = Path(ref)
    where = ["--records", str(folder.resolve().parent), "--tag", folder.name]
    argv = where if folder.is_dir() else ["--tag", ref]
    return Stage(
        "rescan",
        f"release {folder.name}: image scan and SBOM audit with today's advisories",
        (
            Step(
                "rescan",
                microshop(
                    "rescan",
                    f"--{opts.advisory_source}",
                    *argv,
                    "--report-dir",
                    str(opts.report_dir / "rescan"),
                ),
                explain=opts.report_dir / "rescan" / "summary.md",
            ),
        ),
    )
