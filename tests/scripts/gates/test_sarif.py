"""The SARIF writer: the workflow's category names the analysis; gates that did not run upload
nothing, so they cannot close the alerts of the job that really ran them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from microshop_ci.gates.cli import write_reports
from microshop_ci.gates.evaluate import GateResult, evaluate
from microshop_ci.gates.model import Finding, GateRun, RunStatus, Severity
from microshop_ci.gates.policy import GatePolicy
from microshop_ci.gates.sarif import to_sarif

TODAY = dt.date(2026, 11, 21)
META: dict[str, object] = {"mode": "offline"}


def result(gate: str, tool: str, status: RunStatus, *findings: Finding) -> GateResult:
    run = GateRun(status, tool, "note")
    for f in findings:
        run.add(f)
    return evaluate(gate, run, GatePolicy(fail_on="high", required=False), (), TODAY)


def cve(gate: str) -> Finding:
    return Finding(
        gate=gate, rule_id="CVE-2026-1", severity=Severity.HIGH, target="img", message="bad",
        path="usr/lib/x", line=None,
    )  # fmt: skip


def test_no_run_sets_automation_details_so_the_upload_category_applies() -> None:
    log = to_sarif(result("trivy-image", "trivy", RunStatus.RAN, cve("trivy-image")))
    (run,) = log["runs"]
    assert "automationDetails" not in run
    assert run["tool"]["driver"]["name"] == "trivy (trivy-image)"
    assert [r["ruleId"] for r in run["results"]] == ["CVE-2026-1"]


def test_a_skipped_or_not_run_gate_writes_no_sarif(tmp_path: Path) -> None:
    results = [
        result("trivy-image", "trivy", RunStatus.SKIPPED),  # no --image in the gates job
        result("trivy-secret", "trivy", RunStatus.NOT_RUN),
        result("bandit", "bandit", RunStatus.RAN),
    ]
    (tmp_path / "trivy-image.sarif").write_text("{}")  # left from an earlier run
    write_reports(results, tmp_path, META, TODAY)
    assert sorted(p.name for p in tmp_path.glob("*.sarif")) == ["bandit.sarif"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [g["gate"] for g in summary["gates"]] == ["trivy-image", "trivy-secret", "bandit"]


def test_a_gate_that_ran_clean_still_uploads_its_empty_result(tmp_path: Path) -> None:
    write_reports([result("trivy-image", "trivy", RunStatus.RAN)], tmp_path, META, TODAY)
    log = json.loads((tmp_path / "trivy-image.sarif").read_text())
    assert log["runs"][0]["results"] == []
