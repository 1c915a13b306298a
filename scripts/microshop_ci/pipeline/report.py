"""The run's report: summary.json, summary.md and a self-contained report.html."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from microshop_ci.core.result import to_json
from microshop_ci.pipeline.model import RunResult, StageResult, Verdict
from microshop_ci.pipeline.progress import fmt_seconds


def headline(stage: StageResult) -> str:
    """One line of key figures for a stage, from its typed result."""
    return stage.outcome.headline() if stage.outcome is not None else ""


def _failure_lines(run: RunResult) -> list[str]:
    failed = run.first_failure
    if failed is None:
        return [f"**PASSED**: all {len(run.stages)} stages passed in {fmt_seconds(run.seconds)}."]
    lines = [f"**{run.verdict.value.upper()}** at stage `{failed.name}` ({failed.title})."]
    if failed.reason:
        lines += ["", "```", failed.reason.strip(), "```"]
    return lines


def markdown(run: RunResult) -> str:
    """The Markdown summary: verdict and reason first, then the stage table."""
    lines = ["# MicroShop pipeline", "", *_failure_lines(run), ""]
    lines += [
        f"Advisory source: {run.advisory_source}. Started {run.started}.",
        "",
        "| stage | verdict | duration | key figures |",
        "|---|---|---|---|",
    ]
    for stage in run.stages:
        figures = headline(stage).replace("|", "\\|")
        lines.append(
            f"| {stage.name} | {stage.verdict.value} | {fmt_seconds(stage.seconds)} | {figures} |"
        )
    lines.append("")
    return "\n".join(lines)


def as_json(run: RunResult) -> dict[str, Any]:
    """The JSON summary (paths made relative to the report folder)."""

    def clean(obj: Any) -> Any:
        if isinstance(obj, Path):
            try:
                return str(obj.relative_to(run.report_dir))
            except ValueError:
                return str(obj)
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj

    data = clean(asdict(run))
    for entry, stage in zip(data["stages"], run.stages, strict=True):
        del entry["outcome"]
        entry["figures"] = to_json(stage.outcome) if stage.outcome is not None else {}
    data["verdict"] = run.verdict.value
    failed = run.first_failure
    data["failed_stage"] = failed.name if failed else None
    return dict(data)


def html(run: RunResult) -> str:
    """A self-contained HTML page: verdicts, a bar chart of timings, the findings table."""
    env = Environment(
        loader=PackageLoader("microshop_ci.pipeline", "templates"),
        autoescape=select_autoescape(default=True),
    )
    longest = max((s.seconds for s in run.stages), default=1.0) or 1.0
    return env.get_template("report.html.j2").render(
        run=run,
        verdict=run.verdict.value,
        failure=run.first_failure,
        longest=longest,
        fmt=fmt_seconds,
        headline=headline,
        passed=Verdict.PASSED,
    )


def write(run: RunResult) -> None:
    """Write summary.json, summary.md and report.html into the report folder."""
    run.report_dir.mkdir(parents=True, exist_ok=True)
    (run.report_dir / "summary.json").write_text(json.dumps(as_json(run), indent=2) + "\n")
    (run.report_dir / "summary.md").write_text(markdown(run))
    (run.report_dir / "report.html").write_text(html(run))
