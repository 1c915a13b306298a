"""SARIF 2.1.0 per gate, for GitHub code scanning; excepted findings carry a suppression."""

from __future__ import annotations

from typing import Any

from microshop_ci.gates.evaluate import GateResult
from microshop_ci.gates.model import Finding, Severity

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
    Severity.UNKNOWN: "warning",
}
SECURITY_SCORE = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
    Severity.INFO: "0.0",
    Severity.UNKNOWN: "5.0",
}


def _result(finding: Finding, rule_index: int, justification: str | None) -> dict[str, Any]:
    region = {"startLine": finding.line} if finding.line else None
    physical: dict[str, Any] = {"artifactLocation": {"uri": finding.path}}
    if region:
        physical["region"] = region
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": LEVEL[finding.severity],
        "message": {"text": finding.message},
        "locations": [{"physicalLocation": physical}],
        "properties": {"severity": finding.severity.label, "target": finding.target},
    }
    if finding.aliases:
        result["properties"]["aliases"] = list(finding.aliases)
    if justification is not None:
        result["suppressions"] = [{"kind": "external", "justification": justification}]
    return result


def to_sarif(result: GateResult) -> dict[str, Any]:
    """One SARIF log with one run for the gate's tool."""
    rules = list(result.run.rules.values())
    index = {rule.id: i for i, rule in enumerate(rules)}
    worst: dict[str, Severity] = {}
    for finding in result.run.findings:
        worst[finding.rule_id] = max(worst.get(finding.rule_id, Severity.INFO), finding.severity)
    excepted = {id(f): e for f, e in result.excepted}
    tool = result.run.tool
    driver: dict[str, Any] = {
        # Unique per gate: code scanning rejects two runs of one tool name in one category.
        "name": tool if tool == result.gate else f"{tool} ({result.gate})",
        "rules": [
            {
                "id": rule.id,
                "shortDescription": {"text": rule.description[:1000] or rule.id},
                **({"helpUri": rule.help_uri} if rule.help_uri else {}),
                "properties": {
                    "security-severity": SECURITY_SCORE[worst.get(rule.id, Severity.UNKNOWN)],
                    "tags": ["security"],
                },
            }
            for rule in rules
        ],
    }
    if result.run.tool_version:
        driver["version"] = result.run.tool_version
    results = []
    for finding in result.run.findings:
        exception = excepted.get(id(finding))
        justification = (
            f"{exception.reason} (owner {exception.owner}, expires {exception.expires})"
            if exception
            else None
        )
        results.append(_result(finding, index[finding.rule_id], justification))
    return {
        "version": "2.1.0",
        "$schema": SCHEMA,
        "runs": [
            {
                # No automationDetails: the upload's `category:` (gates, image-gates) names the
                # analysis, and the tool name (unique per gate) tells the runs apart within it.
                "tool": {"driver": driver},
                "results": results,
                "properties": {"gate": result.gate, "verdict": result.verdict.value},
            }
        ],
    }
