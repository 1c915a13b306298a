"""`microshop pipeline [--stage NAME] [--offline|--online]`: the local pipeline, its report."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.table import Table

from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.core.result import ResultFileError
from microshop_ci.core.tools import module_env
from microshop_ci.pipeline import cleanup, figures, report
from microshop_ci.pipeline.model import RunResult, Stage, StageResult, Verdict
from microshop_ci.pipeline.progress import STYLE, Progress, fmt_seconds
from microshop_ci.pipeline.runner import Runner
from microshop_ci.pipeline.stages import STAGE_NAMES, Options, build_stages, rescan_stage


def _release(text: str) -> str:
    """--rescan REF: a record folder (read from where the user stands) or a tag."""
    folder = Path(text)
    return str(folder.absolute()) if folder.is_dir() else text


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop pipeline [--stage NAME]... [--offline|--online] [--report-dir DIR] [--plain]`."""
    parser.epilog = "stages: " + " -> ".join(STAGE_NAMES)
    parser.add_argument(
        "--stage",
        action="append",
        choices=STAGE_NAMES,
        help="run only this stage (repeatable); later stages read earlier stages' outputs "
        "from the report folder",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--offline",
        dest="source",
        action="store_const",
        const="offline",
        help="pip-audit asks a local OSV service fed from ../shared/data/osv (default)",
    )
    source.add_argument(
        "--online",
        dest="source",
        action="store_const",
        const="online",
        help="pip-audit asks the public advisory services",
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=None,
        help="where the report goes (default: reports/pipeline)",
    )
    parser.add_argument(
        "--rescan",
        metavar="REF",
        type=_release,
        default=None,
        help="instead of the stages: re-scan one release (a tag of .local/releases or a record "
        "folder vX.Y.Z) with today's advisories (scripts/rescan)",
    )
    parser.add_argument("--plain", action="store_true", help="plain progress lines, no live table")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def summary_table(run: RunResult) -> Table:
    """The end-of-run table: stage, verdict, duration, key figures."""
    table = Table(title=f"MicroShop pipeline: {run.verdict.value.upper()}")
    for column in ("stage", "verdict", "duration", "key figures"):
        table.add_column(column, overflow="fold")
    for stage in run.stages:
        style = STYLE.get(stage.verdict.value, "")
        table.add_row(
            stage.name,
            f"[{style}]{stage.verdict.value}[/]",
            fmt_seconds(stage.seconds),
            report.headline(stage),
        )
    return table


def chosen_stages(opts: Options, args: argparse.Namespace) -> list[Stage]:
    """The stages asked for: every stage, the --stage ones, or the one release --rescan names."""
    if args.rescan is not None:
        return [rescan_stage(opts, args.rescan)]
    return [s for s in build_stages(opts) if not args.stage or s.name in args.stage]


def run_command(args: argparse.Namespace) -> int:
    """Run the asked stages, write the report, print the summary; 0 only when all passed."""
    args.source = args.source or "offline"
    repo: Path = args.repo.resolve()
    report_dir: Path = (args.report_dir or repo / "reports" / "pipeline").resolve()
    (report_dir / "logs").mkdir(parents=True, exist_ok=True)
    opts = Options(repo=repo, report_dir=report_dir, advisory_source=args.source)
    stages = chosen_stages(opts, args)
    plain = args.plain or not sys.stderr.isatty()

    run_id = uuid.uuid4().hex[:12]
    env = module_env(repo, os.environ)
    env.update(
        MICROSHOP_RUN_ID=run_id,
        MICROSHOP_RUN_LABEL=f"{cleanup.RUN_LABEL}={run_id}",
        MICROSHOP_ADVISORY_SOURCE=args.source,
        PYTHONUNBUFFERED="1",
    )
    registry = os.environ.get("MICROSHOP_REGISTRY", "127.0.0.1:5000")
    registry_was_up = cleanup.registry_answers(registry)
    signal.signal(signal.SIGTERM, _raise_interrupt)

    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    results: list[StageResult] = []
    with Progress([s.name for s in stages], plain=plain) as progress:
        runner = Runner(report_dir / "logs", env, progress, cwd=repo)
        try:
            for stage in stages:
                (report_dir / stage.name).mkdir(parents=True, exist_ok=True)
                figures.result_path(stage.name, report_dir).unlink(missing_ok=True)
                result = runner.run_stage(stage)
                try:
                    result.outcome = figures.collect(stage.name, report_dir)
                except ResultFileError as exc:
                    result.verdict = Verdict.FAILED
                    result.reason = result.reason or f"the stage's result is unreadable: {exc}"
                results.append(result)
                if result.verdict is not Verdict.PASSED:
                    break
        except KeyboardInterrupt:
            runner.stop_current()
            results.append(
                StageResult(
                    "interrupted", "run interrupted", Verdict.CANCELLED, 0.0, reason="Ctrl-C"
                )
            )
        finally:
            cleanup.remove_run_containers(run_id)
            if (
                any(r.name == "smoke" and r.steps for r in results)
                or "smoke" in progress.stage_start
            ):
                cleanup.stop_local_stack(repo)
            if not registry_was_up:
                cleanup.stop_registry(repo)
    for stage in stages[len(results) :]:
        results.append(StageResult(stage.name, stage.title, Verdict.NOT_RUN, 0.0))

    run = RunResult(started, time.monotonic() - t0, args.source, results, report_dir, run_id)
    report.write(run)
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)
    for line in report.markdown(run).splitlines()[2:6]:
        if line.strip():
            console.print(line, markup=False, highlight=False)
    console.print(summary_table(run))
    console.print(f"report: {report_dir / 'report.html'}", markup=False, highlight=False)
    if run.verdict is Verdict.CANCELLED:
        return 130
    return 0 if run.verdict is Verdict.PASSED else 1
