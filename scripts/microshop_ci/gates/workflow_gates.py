"""actionlint and zizmor over .github/workflows (and composite actions for zizmor)."""

from __future__ import annotations

import json
from pathlib import Path

from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.core.tools import ToolError, pinned_tool, run_tool, venv_tool
from microshop_ci.gates.context import Context
from microshop_ci.gates.model import Confidence, Finding, GateRun, RunStatus, Severity

ZIZMOR_CONFIG = REPO_ROOT / "policies" / "gates" / "zizmor.yml"
NO_WORKFLOWS = "skipped: no .github/workflows/*.yml"


def workflow_files(ctx: Context) -> list[Path]:
    """Workflow files under root/.github/workflows."""
    return ctx.files(".github/workflows", (".yml", ".yaml"))


class ActionlintGate:
    """actionlint: syntax, expressions, runner labels, shellcheck where installed."""

    name = "actionlint"
    tool = "actionlint"

    def run(self, ctx: Context) -> GateRun:
        """One actionlint over every workflow file; every finding has severity medium."""
        files = workflow_files(ctx)
        if not files:
            return GateRun(RunStatus.SKIPPED, self.tool, NO_WORKFLOWS)
        out = GateRun(RunStatus.RAN, self.tool)
        try:
            actionlint = pinned_tool("actionlint")
            out.tool_version = run_tool([actionlint, "-version"], ok_codes=(0,)).stdout.split()[0]
            result = run_tool(
                [actionlint, "-format", "{{json .}}", *(ctx.rel(f) for f in files)],
                ok_codes=(0, 1),
                cwd=ctx.root,
            )
            items = json.loads(result.stdout or "[]")
        except (ToolError, json.JSONDecodeError, IndexError) as err:
            return GateRun(RunStatus.ERROR, self.tool, str(err))
        for item in items:
            path = ctx.rel(item["filepath"])
            out.add(
                Finding(
                    gate=self.name,
                    rule_id=item.get("kind", "actionlint"),
                    severity=Severity.MEDIUM,
                    target=path,
                    message=item["message"],
                    path=path,
                    line=item.get("line") or None,
                    help_uri="https://github.com/rhysd/actionlint/blob/main/docs/checks.md",
                ),
                description=f"actionlint {item.get('kind', '')} check",
            )
        return out


class ZizmorGate:
    """zizmor (offline audits) with the project's hash-pin policy for every action."""

    name = "zizmor"
    tool = "zizmor"

    def run(self, ctx: Context) -> GateRun:
        """One zizmor over workflows and composite actions; inline ignores are not honoured."""
        files = workflow_files(ctx)
        if not files:
            return GateRun(RunStatus.SKIPPED, self.tool, NO_WORKFLOWS)
        files += [
            p for p in ctx.files(".github/actions") if p.name in ("action.yml", "action.yaml")
        ]
        out = GateRun(RunStatus.RAN, self.tool)
        try:
            zizmor = venv_tool("zizmor")
            out.tool_version = run_tool([zizmor, "--version"], ok_codes=(0,)).stdout.split()[1]
            argv = [zizmor, "--offline", "--no-exit-codes", "--format", "json"]
            argv += ["--config", str(ZIZMOR_CONFIG), *(ctx.rel(f) for f in files)]
            items = json.loads(run_tool(argv, ok_codes=(0,), cwd=ctx.root).stdout or "[]")
        except (ToolError, json.JSONDecodeError, IndexError) as err:
            return GateRun(RunStatus.ERROR, self.tool, str(err))
        for item in items:
            primary = next(
                (loc for loc in item["locations"] if loc["symbolic"].get("kind") == "Primary"),
                item["locations"][0],
            )
            key = primary["symbolic"]["key"]
            given = next(iter(key.values()))["given_path"] if isinstance(key, dict) else str(key)
            path = ctx.rel(given)
            line = primary["concrete"]["location"]["start_point"]["row"] + 1
            determinations = item["determinations"]
            out.add(
                Finding(
                    gate=self.name,
                    rule_id=item["ident"],
                    severity=Severity.parse(determinations.get("severity")),
                    confidence=Confidence.parse(determinations.get("confidence")),
                    target=path,
                    message=f"{item['desc']}: {primary['symbolic'].get('annotation', '')}",
                    path=path,
                    line=line,
                    help_uri=item.get("url"),
                ),
                description=item["desc"],
            )
        return out
