"""Apply a gate's threshold and the dated exceptions to what its tool found: the verdict."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from microshop_ci.gates.model import Finding, GateRun, RunStatus, Severity, Verdict
from microshop_ci.gates.policy import GateException, GatePolicy


@dataclass
class GateResult:
    """A gate's findings sorted into blocking / below threshold / excepted, and its verdict."""

    gate: str
    run: GateRun
    policy: GatePolicy
    verdict: Verdict
    blocking: list[Finding] = field(default_factory=list)
    below_threshold: list[Finding] = field(default_factory=list)
    excepted: list[tuple[Finding, GateException]] = field(default_factory=list)
    expired: list[GateException] = field(default_factory=list)
    stale: list[GateException] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def fails_run(self) -> bool:
        """Failed and error always fail the run; skipped and not-run fail it when required."""
        if self.verdict in (Verdict.FAILED, Verdict.ERROR):
            return True
        return self.verdict in (Verdict.SKIPPED, Verdict.NOT_RUN) and self.policy.required

    def counts(self) -> Counter[Severity]:
        """Findings by severity, excepted ones included."""
        return Counter(f.severity for f in self.run.findings)


def evaluate(
    gate: str,
    run: GateRun,
    policy: GatePolicy,
    exceptions: tuple[GateException, ...],
    today: dt.date,
) -> GateResult:
    """Sort the findings, match exceptions, and decide the gate's verdict."""
    mine = [e for e in exceptions if e.gate == gate]
    active = [e for e in mine if not e.expired(today)]
    result = GateResult(gate, run, policy, Verdict.PASSED)
    result.expired = [e for e in mine if e.expired(today)]
    used: set[int] = set()
    for finding in run.findings:
        match = next((e for e in active if e.matches(finding)), None)
        if match is not None:
            used.add(id(match))
            result.excepted.append((finding, match))
        elif policy.blocks(finding):
            result.blocking.append(finding)
        else:
            result.below_threshold.append(finding)
    if run.status == RunStatus.RAN:
        result.stale = [e for e in active if id(e) not in used]
    for exception in result.expired:
        result.reasons.append(f"exception expired on {exception.expires}: {exception.label}")
    for finding in result.blocking:
        where = finding.location
        if finding.target != finding.path:
            where = f"{finding.target} ({where})"
        result.reasons.append(
            f"{finding.severity.label} {finding.rule_id} in {where}: {finding.message}"
        )
    _decide(result)
    return result


def _decide(result: GateResult) -> None:
    """Set the verdict from the run status, the blocking findings and expired exceptions."""
    run = result.run
    if run.status == RunStatus.ERROR:
        result.verdict = Verdict.ERROR
        result.reasons.insert(0, f"{run.tool} did not complete: {run.note}")
    elif result.reasons:
        result.verdict = Verdict.FAILED
    elif run.status == RunStatus.SKIPPED:
        result.verdict = Verdict.SKIPPED
    elif run.status == RunStatus.NOT_RUN:
        result.verdict = Verdict.NOT_RUN
    if result.verdict in (Verdict.SKIPPED, Verdict.NOT_RUN) and result.policy.required:
        result.reasons.append(f"required gate {result.verdict.value}: {run.note}")
