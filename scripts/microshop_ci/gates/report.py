"""summary.json and summary.md (for $GITHUB_STEP_SUMMARY) of one gates run."""

from __future__ import annotations

import datetime as dt
from typing import Any

from microshop_ci.gates.evaluate import GateResult
from microshop_ci.gates.model import Finding, Severity, Verdict
from microshop_ci.gates.trivy_gates import VULN_DB_MISSING

COLUMNS = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO)
ICON = {
    Verdict.PASSED: "✅ passed",
    Verdict.FAILED: "❌ failed",
    Verdict.ERROR: "❌ error",
    Verdict.SKIPPED: "⏭️ skipped",
    Verdict.NOT_RUN: "⚠️ not run",
}


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "rule_id": finding.rule_id,
        "severity": finding.severity.label,
        "confidence": finding.confidence.name.lower() if finding.confidence else None,
        "target": finding.target,
        "location": finding.location,
        "message": finding.message,
        "aliases": list(finding.aliases),
        "fixed_version": finding.fixed_version,
    }


def run_passed(results: list[GateResult]) -> bool:
    """Exit 0 only when no gate fails the run."""
    return not any(r.fails_run for r in results)


def summary_json(results: list[GateResult], meta: dict[str, Any]) -> dict[str, Any]:
    """Machine-readable summary: one entry per gate with its findings sorted by outcome."""
    return {
        **meta,
        "passed": run_passed(results),
        "trivy_vulnerability_scan_ran": any(
            r.gate == "trivy-vuln" and r.verdict in (Verdict.PASSED, Verdict.FAILED)
            for r in results
        ),
        "gates": [
            {
                "gate": r.gate,
                "tool": r.run.tool,
                "tool_version": r.run.tool_version,
                "verdict": r.verdict.value,
                "fails_run": r.fails_run,
                "required": r.policy.required,
                "threshold": r.policy.fail_on,
                "note": r.run.note,
                "counts": {s.label: r.counts().get(s, 0) for s in Severity},
                "reasons": r.reasons,
                "blocking": [_finding(f) for f in r.blocking],
                "below_threshold": [_finding(f) for f in r.below_threshold],
                "excepted": [
                    {**_finding(f), "exception": e.label, "reason": e.reason} for f, e in r.excepted
                ],
                "expired_exceptions": [e.label for e in r.expired],
                "stale_exceptions": [e.label for e in r.stale],
            }
            for r in results
        ],
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary_markdown(results: list[GateResult], today: dt.date, mode: str) -> str:
    """A table (gate | findings by severity | excepted | verdict), then failures and notes."""
    overall = "passed" if run_passed(results) else "FAILED"
    lines = [
        f"## Security gates: {overall}",
        "",
        f"Mode: {mode}. Date: {today.isoformat()}. Thresholds: policies/gates/policy.yaml.",
        "",
        "| Gate | Critical | High | Medium | Low | Info | Unknown | Excepted | Verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        counts = r.counts()
        cells = [str(counts.get(s, 0)) for s in COLUMNS]
        verdict = ICON[r.verdict] + (" (fails the run)" if r.fails_run and r.verdict in (
            Verdict.SKIPPED, Verdict.NOT_RUN) else "")  # fmt: skip
        lines.append(
            f"| {r.gate} | {' | '.join(cells)} | {counts.get(Severity.UNKNOWN, 0)} "
            f"| {len(r.excepted)} | {verdict} |"
        )
    failing = [r for r in results if r.fails_run]
    if failing:
        lines += ["", "### Why it failed", ""]
        for r in failing:
            lines.append(f"**{r.gate}** ({r.verdict.value}):")
            lines += [f"- {_cell(reason)}" for reason in r.reasons]
            lines.append("")
    notes = [r for r in results if r.verdict in (Verdict.SKIPPED, Verdict.NOT_RUN)]
    if notes:
        lines += ["", "### Not run or skipped", ""]
        lines += [f"- **{r.gate}**: {_cell(r.run.note)}" for r in notes]
    if not any(
        r.gate == "trivy-vuln" and r.verdict in (Verdict.PASSED, Verdict.FAILED) for r in results
    ):
        vuln = next((r for r in results if r.gate == "trivy-vuln"), None)
        if vuln is None:
            sentence = (
                "Trivy's vulnerability scan did not run: trivy-vuln was not selected (--only)."
            )
        else:
            sentence = vuln.run.note or VULN_DB_MISSING
        lines += ["", f"> ⚠️ {sentence}"]
    excepted = [(r.gate, f, e) for r in results for f, e in r.excepted]
    if excepted:
        lines += ["", "### Excepted findings", ""]
        lines += [
            f"- {gate}: {f.rule_id} in {f.target} ({f.severity.label}): {_cell(e.reason)} "
            f"(owner {e.owner}, expires {e.expires})"
            for gate, f, e in excepted
        ]
    stale = [(r.gate, e) for r in results for e in r.stale]
    if stale:
        lines += ["", "### Stale exceptions (matched nothing in this run)", ""]
        lines += [f"- {e.label}" for _, e in stale]
    return "\n".join(lines) + "\n"
