"""Verdict rules of one gate: thresholds, confidence, fixes, errors, skipped and not-run."""

from __future__ import annotations

import datetime as dt

import pytest

from microshop_ci.gates.evaluate import evaluate
from microshop_ci.gates.model import Confidence, Finding, GateRun, RunStatus, Severity, Verdict
from microshop_ci.gates.pip_audit_gate import advisory_severity
from microshop_ci.gates.policy import GatePolicy

TODAY = dt.date(2026, 11, 21)


def finding(
    severity: Severity, confidence: Confidence | None = None, fixed: str | None = None
) -> Finding:
    return Finding(
        gate="g", rule_id="R1", severity=severity, target="a.py", message="m", path="a.py",
        line=3, confidence=confidence, fixed_version=fixed,
    )  # fmt: skip


def verdict(policy: GatePolicy, *findings: Finding, status: RunStatus = RunStatus.RAN) -> Verdict:
    return evaluate(
        "g", GateRun(status, "tool", "note", findings=list(findings)), policy, (), TODAY
    ).verdict


@pytest.mark.parametrize(
    ("threshold", "severity", "expected"),
    [
        ("high", Severity.MEDIUM, Verdict.PASSED),
        ("high", Severity.HIGH, Verdict.FAILED),
        ("high", Severity.UNKNOWN, Verdict.FAILED),  # unknown meets every threshold
        ("any", Severity.INFO, Verdict.FAILED),
        ("medium", Severity.LOW, Verdict.PASSED),
    ],
)
def test_threshold(threshold: str, severity: Severity, expected: Verdict) -> None:
    assert verdict(GatePolicy.model_validate({"fail_on": threshold}), finding(severity)) == expected


def test_low_confidence_finding_stays_below_threshold() -> None:
    policy = GatePolicy(fail_on="medium", min_confidence="medium")
    assert verdict(policy, finding(Severity.HIGH, Confidence.LOW)) == Verdict.PASSED
    assert verdict(policy, finding(Severity.HIGH, Confidence.MEDIUM)) == Verdict.FAILED


def test_require_fix_lets_only_fixable_findings_fail() -> None:
    policy = GatePolicy(fail_on="high", require_fix=True)
    assert verdict(policy, finding(Severity.CRITICAL)) == Verdict.PASSED
    assert verdict(policy, finding(Severity.CRITICAL, fixed="1.2.3")) == Verdict.FAILED


def test_tool_error_fails_the_run_with_its_reason() -> None:
    result = evaluate(
        "g",
        GateRun(RunStatus.ERROR, "tool", "exited 2: boom"),
        GatePolicy(fail_on="any"),
        (),
        TODAY,
    )
    assert (result.verdict, result.fails_run) == (Verdict.ERROR, True)
    assert result.reasons == ["tool did not complete: exited 2: boom"]


@pytest.mark.parametrize("status", [RunStatus.SKIPPED, RunStatus.NOT_RUN])
@pytest.mark.parametrize("required", [True, False])
def test_skipped_or_not_run_fails_only_a_required_gate(status: RunStatus, required: bool) -> None:
    policy = GatePolicy(fail_on="any", required=required)
    result = evaluate("g", GateRun(status, "tool", "skipped: no k8s/"), policy, (), TODAY)
    assert result.verdict.value == status.value
    assert result.fails_run is required


@pytest.mark.parametrize(
    ("advisory", "expected"),
    [
        (None, Severity.UNKNOWN),
        ({"id": "X"}, Severity.UNKNOWN),
        ({"database_specific": {"severity": "MODERATE"}}, Severity.MEDIUM),
        (
            {
                "severity": [
                    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:R/S:U/C:N/I:L/A:N"}
                ]
            },
            Severity.LOW,
        ),
        (
            {
                "severity": [
                    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
                ]
            },
            Severity.CRITICAL,
        ),
        ({"severity": [{"type": "CVSS_V3", "score": "garbage"}]}, Severity.UNKNOWN),
    ],
)
def test_advisory_severity(advisory: dict[str, object] | None, expected: Severity) -> None:
    assert advisory_severity(advisory) == expected
