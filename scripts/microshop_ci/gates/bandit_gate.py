"""Bandit over services/ and scripts/; our own rule: each `# nosec` names rules and a reason."""

from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path

from microshop_ci.core.tools import ToolError, run_tool, venv_tool
from microshop_ci.gates.context import Context
from microshop_ci.gates.model import Confidence, Finding, GateRun, RunStatus, Severity

SCANNED = ("services", "scripts")
NOSEC_RULE = "MS-NOSEC"
NOSEC_ANY = re.compile(r"#\s*nosec\b", re.IGNORECASE)
NOSEC_JUSTIFIED = re.compile(
    r"#\s*nosec:?\s+(?P<ids>B\d{3}(?:\s*,\s*B\d{3})*)\s+--\s+(?P<reason>\S.{7,})$"
)
NOSEC_HELP = "Write `# nosec B603 -- why this is safe`: name the rule(s) and give a reason."


def nosec_problems(path: Path) -> list[tuple[int, str]]:
    """(line, comment) of each `# nosec` comment that lacks a rule id or a reason."""
    problems: list[tuple[int, str]] = []
    try:
        source = path.read_text(encoding="utf-8")
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (OSError, UnicodeDecodeError, tokenize.TokenError, SyntaxError):
        return problems  # bandit reports files it cannot parse
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        match = NOSEC_ANY.search(token.string)
        if match and not NOSEC_JUSTIFIED.search(token.string[match.start() :].rstrip()):
            problems.append((token.start[0], token.string.strip()))
    return problems


class BanditGate:
    """Runs bandit once over every scanned folder present under the root."""

    name = "bandit"
    tool = "bandit"

    def run(self, ctx: Context) -> GateRun:
        """Bandit's JSON report, normalised; nosec comments checked by tokenizing each file."""
        targets = [str(ctx.root / d) for d in SCANNED if (ctx.root / d).is_dir()]
        if not targets:
            return GateRun(RunStatus.SKIPPED, self.tool, "skipped: no services/ or scripts/")
        out = GateRun(RunStatus.RAN, self.tool)
        try:
            bandit = venv_tool("bandit")
            out.tool_version = run_tool([bandit, "--version"], ok_codes=(0,)).stdout.split()[1]
            excludes = ",".join(
                [str(ctx.root / p.rstrip("*/")) for p in ctx.policy.exclude] + ["*/.venv/*"]
            )
            result = run_tool(
                [bandit, "-r", *targets, "-f", "json", "-q", "-x", excludes],
                ok_codes=(0, 1),
            )
            report = json.loads(result.stdout)
        except (ToolError, json.JSONDecodeError, IndexError) as err:
            return GateRun(RunStatus.ERROR, self.tool, str(err))
        for error in report.get("errors", []):
            return GateRun(
                RunStatus.ERROR, self.tool, f"cannot scan {error['filename']}: {error['reason']}"
            )
        for item in report["results"]:
            path = ctx.rel(item["filename"])
            out.add(
                Finding(
                    gate=self.name,
                    rule_id=item["test_id"],
                    severity=Severity.parse(item["issue_severity"]),
                    confidence=Confidence.parse(item["issue_confidence"]),
                    target=path,
                    message=f"{item['issue_text']} ({item['test_name']})",
                    path=path,
                    line=item["line_number"],
                    help_uri=item.get("more_info"),
                ),
                description=item["test_name"],
            )
        for folder in SCANNED:
            for source in ctx.files(folder, (".py",)):
                for line, comment in nosec_problems(source):
                    path = ctx.rel(source)
                    out.add(
                        Finding(
                            gate=self.name,
                            rule_id=NOSEC_RULE,
                            severity=Severity.HIGH,
                            confidence=Confidence.HIGH,
                            target=path,
                            message=f"`{comment}` hides findings without a rule id and a reason. "
                            + NOSEC_HELP,
                            path=path,
                            line=line,
                        ),
                        description="nosec comment without rule id and reason",
                    )
        return out
