"""The runtime-rules gate: every Falco rule file under policies/runtime/ within the subset."""

from __future__ import annotations

from microshop_ci.core.findings import Finding, Severity
from microshop_ci.gates.context import Context
from microshop_ci.gates.model import GateRun, RunStatus
from microshop_ci.runtime.rules import RuleFileError, load

RULES_DIR = "policies/runtime"
RULE_ID = "MS-RUNTIME-RULE"
DESCRIPTION = (
    "A runtime rule file has a syntax error, an unknown macro or list, or a field, operator or "
    "key outside the evaluator's subset (docs/runtime-detection.md)"
)


class RuntimeRulesGate:
    """Loads each rule file with the evaluator; a refused file is a finding naming the rule."""

    name = "runtime-rules"
    tool = "microshop_ci.runtime"

    def run(self, ctx: Context) -> GateRun:
        """One finding per refused file (its one-line reason); no rule files: skipped visibly."""
        files = ctx.files(RULES_DIR, (".yaml", ".yml"))
        if not files:
            return GateRun(RunStatus.SKIPPED, self.tool, f"skipped: no {RULES_DIR}/*.yaml")
        out = GateRun(RunStatus.RAN, self.tool)
        for path in files:
            where = ctx.rel(path)
            try:
                load(path, where)
            except RuleFileError as err:
                message = str(err).removeprefix(f"{where}: ")  # the location names the file
                finding = Finding(self.name, RULE_ID, Severity.HIGH, where, message, where)
                out.add(finding, DESCRIPTION)
        return out
