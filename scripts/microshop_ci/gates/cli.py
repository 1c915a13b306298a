"""`microshop gates`: run the security gates, write SARIF + summaries; 0 only if all passed."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from microshop_ci.core.errors import UsageError
from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.core.result import GatesResult, GateSummary, write_result
from microshop_ci.gates.context import Context, Mode
from microshop_ci.gates.evaluate import GateResult, evaluate
from microshop_ci.gates.model import Severity, Verdict
from microshop_ci.gates.policy import ConfigError, load_exceptions, load_policy
from microshop_ci.gates.registry import GATES
from microshop_ci.gates.report import run_passed, summary_json, summary_markdown
from microshop_ci.gates.sarif import to_sarif
from microshop_ci.osv.db import OsvDatabase, OsvDataError, default_zip
from microshop_ci.osv.server import serve_in_thread

POLICY = REPO_ROOT / "policies" / "gates" / "policy.yaml"
EXCEPTIONS = REPO_ROOT / "policies" / "gates" / "exceptions.yaml"
EXIT_FAILED = 1


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop gates [--offline|--online] [--report-dir DIR] ...`; see docs/security-gates.md."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--offline", dest="mode", action="store_const", const="offline",
                      help="advisories from the local OSV service (default)")  # fmt: skip
    mode.add_argument("--online", dest="mode", action="store_const", const="online",
                      help="advisories from api.osv.dev; Trivy may download its DB")  # fmt: skip
    parser.set_defaults(mode="offline")
    parser.add_argument("--report-dir", type=Path, default=REPO_ROOT / "reports" / "gates")
    parser.add_argument("--only", nargs="+", metavar="GATE", choices=sorted(GATES), default=None)
    parser.add_argument("--image", nargs="+", metavar="REF", default=[], dest="images")
    parser.add_argument("--policy", type=Path, default=POLICY)
    parser.add_argument("--exceptions", type=Path, default=EXCEPTIONS)
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="tree to scan")
    parser.add_argument("--osv-zip", type=Path, default=None, help="OSV export zip (offline)")
    parser.add_argument("--result", type=Path, default=None,
                        help="write the stage's typed result (core.result) here")  # fmt: skip


def run_gates(args: argparse.Namespace, today: dt.date) -> list[GateResult]:
    """Load the policy, start the OSV service if offline, run each selected gate once."""
    known = set(GATES)
    policy = load_policy(args.policy, known)
    exceptions = load_exceptions(args.exceptions, known)
    selected = args.only or list(GATES)
    mode: Mode = args.mode
    results: list[GateResult] = []
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gates-")))
        osv_db, osv_url = None, None
        if mode == "offline" and "pip-audit" in selected:
            try:
                osv_db = OsvDatabase.from_zip(args.osv_zip or default_zip())
            except OsvDataError as err:
                raise ConfigError(f"offline advisories: {err}") from None
            osv_url = stack.enter_context(serve_in_thread(osv_db))
        ctx = Context(
            root=args.root.resolve(), mode=mode, policy=policy, work_dir=work,
            images=tuple(args.images), osv_url=osv_url, osv_db=osv_db,
        )  # fmt: skip
        for name in [g for g in GATES if g in selected]:
            started = time.monotonic()
            print(f"gates: {name} ...", file=sys.stderr, flush=True)
            outcome = GATES[name].run(ctx)
            result = evaluate(name, outcome, policy.gates[name], exceptions, today)
            print(
                f"gates: {name} {result.verdict.value} ({time.monotonic() - started:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
            results.append(result)
    return results


def write_reports(
    results: list[GateResult], report_dir: Path, meta: dict[str, object], today: dt.date
) -> None:
    """SARIF per gate that ran, summary.json, summary.md."""
    report_dir.mkdir(parents=True, exist_ok=True)
    for result in results:
        sarif = report_dir / f"{result.gate}.sarif"
        if result.verdict in (Verdict.SKIPPED, Verdict.NOT_RUN):
            # An empty run would tell code scanning that the gate found nothing: it would close
            # the alerts of the job that really ran it (the image scan in the images job).
            sarif.unlink(missing_ok=True)
            continue
        sarif.write_text(json.dumps(to_sarif(result), indent=2))
    (report_dir / "summary.json").write_text(json.dumps(summary_json(results, meta), indent=2))
    (report_dir / "summary.md").write_text(summary_markdown(results, today, str(meta["mode"])))


def gate_summaries(results: list[GateResult]) -> tuple[GateSummary, ...]:
    """Each gate's verdict, non-zero counts by severity, excepted count and note."""
    summaries = []
    for r in results:
        counts = r.counts()
        by_severity = {s.label: counts[s] for s in Severity if counts.get(s, 0)}
        summaries.append(GateSummary(r.gate, r.verdict, by_severity, len(r.excepted), r.run.note))
    return tuple(summaries)


def execute(args: argparse.Namespace) -> tuple[int, list[GateResult]]:
    """Run and report: (exit code, every gate's result); 0 all passed, 1 a gate failed the run;
    an invalid configuration raises (exit code 2)."""
    if not args.root.is_dir():
        raise UsageError(f"--root {args.root}: not a directory")
    today = dt.datetime.now(dt.UTC).date()
    started = time.monotonic()
    try:
        results = run_gates(args, today)
    except ConfigError as err:
        raise ConfigError(f"invalid configuration: {err}") from err
    meta: dict[str, object] = {
        "mode": args.mode,
        "date": today.isoformat(),
        "root": str(args.root),
        "images": args.images,
        "duration_seconds": round(time.monotonic() - started, 1),
    }
    write_reports(results, args.report_dir, meta, today)
    if args.result is not None:
        write_result(args.result, GatesResult(gate_summaries(results)))
    print(summary_markdown(results, today, args.mode))
    print(f"gates: reports in {args.report_dir}", file=sys.stderr)
    return (0 if run_passed(results) else EXIT_FAILED), results


def run_command(args: argparse.Namespace) -> int:
    """0 all passed, 1 a gate failed the run, 2 invalid configuration."""
    return execute(args)[0]
