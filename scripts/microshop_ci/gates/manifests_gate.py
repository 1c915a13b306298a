"""The hook for the Kubernetes manifest validator (scripts/validate-manifests), read via SARIF."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from microshop_ci.core.tools import ToolError, run_tool
from microshop_ci.gates.context import Context
from microshop_ci.gates.model import Finding, GateRun, RunStatus, Severity

VALIDATOR = "scripts/validate-manifests"
SARIF_ENV = "MICROSHOP_GATES_SARIF"
LEVELS = {"error": Severity.HIGH, "warning": Severity.MEDIUM, "note": Severity.LOW}


def findings_from_sarif(gate: str, ctx: Context, sarif: dict[str, Any]) -> list[Finding]:
    """Results of a SARIF 2.1.0 log as findings (level or properties.severity gives severity)."""
    findings: list[Finding] = []
    for run in sarif.get("runs", []):
        for result in run.get("results", []):
            physical = (result.get("locations") or [{}])[0].get("physicalLocation", {})
            path = ctx.rel(physical.get("artifactLocation", {}).get("uri", ""))
            rated = (result.get("properties") or {}).get("severity")
            level = result.get("level", "warning")
            findings.append(
                Finding(
                    gate=gate,
                    rule_id=result.get("ruleId", "unknown"),
                    severity=Severity.parse(rated)
                    if rated
                    else LEVELS.get(level, Severity.UNKNOWN),
                    target=path,
                    message=result.get("message", {}).get("text", ""),
                    path=path,
                    line=physical.get("region", {}).get("startLine"),
                )
            )
    return findings


class ManifestsGate:
    """Runs the validator when both k8s/ and the validator exist; skips visibly otherwise."""

    name = "manifests"
    tool = "validate-manifests"

    def run(self, ctx: Context) -> GateRun:
        """Exit 0 and no SARIF results: pass. SARIF results become findings; a bare failure too."""
        validator = ctx.root / VALIDATOR
        if not (ctx.root / "k8s").is_dir():
            return GateRun(RunStatus.SKIPPED, self.tool, "skipped: no k8s/")
        if not validator.is_file():
            return GateRun(RunStatus.SKIPPED, self.tool, f"skipped: no {VALIDATOR} yet")
        sarif_path = ctx.work_dir / "manifests.input.sarif"
        out = GateRun(RunStatus.RAN, self.tool)
        try:
            result = run_tool(
                [str(validator)], ok_codes=tuple(range(256)), cwd=ctx.root,
                env={SARIF_ENV: str(sarif_path)},
            )  # fmt: skip
            sarif = json.loads(sarif_path.read_text()) if sarif_path.exists() else {}
        except (ToolError, json.JSONDecodeError, OSError) as err:
            return GateRun(RunStatus.ERROR, self.tool, str(err))
        for finding in findings_from_sarif(self.name, ctx, sarif):
            out.add(finding)
        if result.returncode != 0 and not out.findings:
            tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
            out.add(
                Finding(
                    gate=self.name,
                    rule_id="validator-failed",
                    severity=Severity.HIGH,
                    target="k8s",
                    message=f"{VALIDATOR} exited {result.returncode}: " + " / ".join(tail),
                    path=str(Path(VALIDATOR)),
                )
            )
        return out
