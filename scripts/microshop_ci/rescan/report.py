"""What a re-scan writes: the summary table, each image version's issue, the merged SARIF."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from microshop_ci.gates.evaluate import GateResult, evaluate
from microshop_ci.gates.model import GateRun, RunStatus
from microshop_ci.gates.policy import GateException, Policy
from microshop_ci.rescan.records import ReleasedImage


@dataclass(frozen=True)
class ImageScan:
    """One released image's gates, evaluated with today's advisories and exceptions."""

    image: ReleasedImage
    results: tuple[GateResult, ...]

    @property
    def new_findings(self) -> int:
        """Findings that fail their gate now (the release passed its gates without them)."""
        return sum(len(r.blocking) for r in self.results)

    @property
    def fails(self) -> bool:
        """Whether this image fails the re-scan (a finding, an error, expired exceptions)."""
        return any(r.fails_run for r in self.results)

    def issue_title(self) -> str:
        """The one issue of this image version: the same title on every re-scan."""
        return f"Re-scan: {self.image.service} {self.image.tag} has new vulnerability findings"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def issue_body(scan: ImageScan, today: dt.date) -> str:
    """Markdown: the image, each finding that fails its gate, and what stays excepted."""
    image = scan.image
    lines = [
        f"The scheduled re-scan of {today.isoformat()} found {scan.new_findings} finding(s) in "
        f"`{image.image.ref}` ({image.service}, release {image.tag}) that fail the gate policy "
        "with today's advisory data.",
        "",
        "| Gate | Advisory | Severity | Package | Fixed in | Detail |",
        "|---|---|---|---|---|---|",
    ]
    for result in scan.results:
        for f in result.blocking:
            lines.append(
                f"| {result.gate} | {f.rule_id} | {f.severity.label} | {_cell(f.target)} | "
                f"{f.fixed_version or 'no fixed release'} | {_cell(f.message[:200])} |"
            )
    excepted = [e.label for r in scan.results for _, e in r.excepted]
    if excepted:
        lines += ["", "Still excepted (policies/gates/exceptions.yaml):", ""]
        lines += [f"- {label}" for label in sorted(set(excepted))]
    lines += ["", "Fix: release a new version with the fixed packages, or add a dated exception."]
    return "\n".join(lines) + "\n"


def summary_markdown(scans: list[ImageScan], today: dt.date, mode: str) -> str:
    """One row per image version and gate: verdict, failing and excepted findings."""
    failed = any(s.fails for s in scans)
    lines = [
        f"## Release re-scan: {'FAILED' if failed else 'passed'} ({mode}, {today.isoformat()})",
        "",
        "| Release | Service | Gate | Verdict | New findings | Excepted | Note |",
        "|---|---|---|---|---|---|---|",
    ]
    for scan in scans:
        for r in scan.results:
            note = _cell("; ".join(r.reasons)[:300]) if r.fails_run else ""
            lines.append(
                f"| {scan.image.tag} | {scan.image.service} | {r.gate} | {r.verdict.value} | "
                f"{len(r.blocking)} | {len(r.excepted)} | {note} |"
            )
    return "\n".join(lines) + "\n"


def merged(
    gate: str, scans: list[ImageScan], policy: Policy, exceptions: tuple[GateException, ...],
    today: dt.date,
) -> GateResult | None:  # fmt: skip
    """One gate's findings over every image version, evaluated once (one SARIF run per tool,
    as code scanning wants within a category); None when the gate ran nowhere."""
    runs = [r.run for s in scans for r in s.results if r.gate == gate]
    ran = [run for run in runs if run.status == RunStatus.RAN]
    if not ran:
        return None
    total = GateRun(RunStatus.RAN, ran[0].tool, tool_version=ran[0].tool_version)
    for run in ran:
        for finding in run.findings:
            total.add(finding, run.rules[finding.rule_id].description)
    return evaluate(gate, total, policy.gates[gate], exceptions, today)
