"""A gate's raw outcome; the one finding model lives in core.findings."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from microshop_ci.core.findings import Confidence, Finding, Severity
from microshop_ci.core.verdict import Verdict

__all__ = ["Confidence", "Finding", "GateRun", "Rule", "RunStatus", "Severity", "Verdict"]


class RunStatus(enum.StrEnum):
    """Whether a gate's tool actually ran."""

    RAN = "ran"
    SKIPPED = "skipped"  # the gate's inputs are absent from the tree
    NOT_RUN = "not-run"  # the inputs exist but the tool cannot run here (e.g. no Trivy DB)
    ERROR = "error"  # the tool crashed or its output could not be read


@dataclass(frozen=True)
class Rule:
    """A rule a tool reported, for SARIF's tool.driver.rules."""

    id: str
    description: str
    help_uri: str | None = None


@dataclass
class GateRun:
    """What running one gate's tool produced, before the policy is applied."""

    status: RunStatus
    tool: str
    note: str = ""
    tool_version: str = ""
    findings: list[Finding] = field(default_factory=list)
    rules: dict[str, Rule] = field(default_factory=dict)

    def add(self, finding: Finding, description: str | None = None) -> None:
        """Record a finding and its rule."""
        self.findings.append(finding)
        if finding.rule_id not in self.rules:
            self.rules[finding.rule_id] = Rule(
                finding.rule_id, description or finding.message, finding.help_uri
            )
