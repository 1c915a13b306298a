"""`scripts/rescan`: the released images against today's advisories, under the gate policy.

For each supported release (the last --last version tags of the release records, or --tag) and
each of its service images: the image vulnerability scan (the trivy-vuln gate on the image by
digest) and pip-audit over the Python packages of the SBOM published with it, both evaluated
with policies/gates/policy.yaml and its dated exceptions, as the release's own gates were.
Writes summary.md and one SARIF file per tool (all versions merged: one category), opens or
updates one issue per image version that has findings failing the policy, and exits 1 then.

    scripts/rescan [--offline|--online] [--github | --records DIR] [--last N | --tag vX.Y.Z]
                   [--report-dir DIR] [--osv-zip ZIP]

--offline (default): pip-audit asks the local OSV service fed from ../shared/data/osv (or
--osv-zip), Trivy runs only with a database already on the machine. --online: OSV's API (or
MICROSHOP_OSV_URL) and a fresh Trivy database. --github: the records are the repository's GitHub
releases and the issues are GitHub issues; else the records are .local/releases/<tag>/ and each
issue is a file in REPORT_DIR/issues (microshop_ci.rescan.github).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from microshop_ci.core.paths import LOCAL_DIR, REPORTS_DIR
from microshop_ci.core.tools import ToolError, run_tool, venv_tool
from microshop_ci.gates.cli import EXCEPTIONS, POLICY
from microshop_ci.gates.context import Context
from microshop_ci.gates.evaluate import evaluate
from microshop_ci.gates.model import GateRun, RunStatus
from microshop_ci.gates.pip_audit_gate import PipAuditGate, audit
from microshop_ci.gates.policy import (
    ConfigError,
    GateException,
    Policy,
    load_exceptions,
    load_policy,
)
from microshop_ci.gates.registry import GATES
from microshop_ci.gates.sarif import to_sarif
from microshop_ci.gates.trivy_gates import TrivyVulnGate
from microshop_ci.osv.db import OsvDatabase, OsvDataError, default_zip
from microshop_ci.osv.server import serve_in_thread
from microshop_ci.rescan import report
from microshop_ci.rescan.github import GitHub, IssueFiles, Issues
from microshop_ci.rescan.records import RecordError, ReleasedImage, latest, local_records

GATES_RESCANNED = ("trivy-vuln", "pip-audit")
DEFAULT_LAST = 3
EXIT_FINDINGS = 1


def configure(parser: argparse.ArgumentParser) -> None:
    """The command line (module docstring)."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--offline", dest="mode", action="store_const", const="offline")
    mode.add_argument("--online", dest="mode", action="store_const", const="online")
    parser.set_defaults(mode="offline")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--github", action="store_true", help="GitHub releases and issues")
    source.add_argument("--records", type=Path, default=LOCAL_DIR / "releases")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--last", type=int, default=DEFAULT_LAST, help="supported releases")
    which.add_argument("--tag", default=None, help="only this release (vX.Y.Z)")
    parser.add_argument("--report-dir", type=Path, default=REPORTS_DIR / "rescan")
    parser.add_argument("--osv-zip", type=Path, default=None, help="OSV export zip (offline)")


def released_images(args: argparse.Namespace) -> tuple[Path, list[ReleasedImage], Issues]:
    """(records root, the images to re-scan, where their issues go)."""
    if not args.github:
        issues = IssueFiles(args.report_dir / "issues")
        return args.records, local_records(args.records, args.last, args.tag), issues
    github = GitHub.from_env()
    tags = [args.tag] if args.tag else latest(github.release_tags(), args.last)
    if not tags:
        raise RecordError(f"{github.repo}: no published release vX.Y.Z to re-scan")
    root = args.report_dir / "records"
    for tag in tags:
        github.download_record(tag, root)
    return root, local_records(root, len(tags)), github


def sbom_audit(ctx: Context, image: ReleasedImage) -> GateRun:
    """pip-audit over the SBOM's Python packages at their released versions (--no-deps)."""
    out = GateRun(RunStatus.RAN, PipAuditGate.tool)
    requirements = ctx.work_dir / f"{image.tag}-{image.service}.requirements.txt"
    pins = image.python_pins()
    if not pins:
        return GateRun(RunStatus.SKIPPED, out.tool, f"skipped: no Python package in {image.sbom}")
    requirements.write_text("".join(f"{name}=={version}\n" for name, version in pins.items()))
    try:
        pip_audit = venv_tool("pip-audit")
        out.tool_version = run_tool([pip_audit, "--version"], ok_codes=(0,)).stdout.split()[1]
        audit(ctx, out, pip_audit, f"{image.service} {image.tag}", requirements, image.sbom,
              hashed=False)  # fmt: skip
    except (ToolError, json.JSONDecodeError, KeyError, IndexError) as err:
        return GateRun(RunStatus.ERROR, out.tool, str(err))
    return out


def rescan(
    args: argparse.Namespace, today: dt.date, policy: Policy, exceptions: tuple[GateException, ...]
) -> tuple[list[report.ImageScan], Issues]:
    """Every released image through both gates, evaluated with the policy and exceptions."""
    root, images, issues = released_images(args)
    scans = []
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rescan-")))
        osv_db, osv_url = None, os.environ.get("MICROSHOP_OSV_URL") or None
        if args.mode == "offline":
            try:
                osv_db = OsvDatabase.from_zip(args.osv_zip or default_zip())
            except OsvDataError as err:
                raise ConfigError(f"offline advisories: {err}") from None
            osv_url = stack.enter_context(serve_in_thread(osv_db))
        for image in images:
            ctx = Context(root=root.resolve(), mode=args.mode, policy=policy, work_dir=work,
                          images=(image.image.ref,), osv_url=osv_url, osv_db=osv_db)  # fmt: skip
            print(f"rescan: {image.service} {image.tag} {image.image.ref}", file=sys.stderr)
            runs = {"trivy-vuln": TrivyVulnGate().run(ctx), "pip-audit": sbom_audit(ctx, image)}
            results = tuple(
                evaluate(gate, runs[gate], policy.gates[gate], exceptions, today)
                for gate in GATES_RESCANNED
            )
            scans.append(report.ImageScan(image, results))
    return scans, issues


def write_reports(
    scans: list[report.ImageScan], args: argparse.Namespace, today: dt.date, policy: Policy,
    exceptions: tuple[GateException, ...],
) -> None:  # fmt: skip
    """summary.md and sarif/<gate>.sarif (the gates that ran) in the report folder."""
    sarif_dir = args.report_dir / "sarif"
    sarif_dir.mkdir(parents=True, exist_ok=True)
    for gate in GATES_RESCANNED:
        result = report.merged(gate, scans, policy, exceptions, today)
        if result is not None:
            (sarif_dir / f"{gate}.sarif").write_text(json.dumps(to_sarif(result), indent=2))
    summary = report.summary_markdown(scans, today, args.mode)
    (args.report_dir / "summary.md").write_text(summary)
    print(summary)


def run_command(args: argparse.Namespace) -> int:
    """0 nothing new, 1 a released image fails the policy now; bad configuration or records
    raise (exit code 2)."""
    today = dt.datetime.now(dt.UTC).date()
    policy = load_policy(POLICY, set(GATES))
    exceptions = load_exceptions(EXCEPTIONS, set(GATES))
    scans, issues = rescan(args, today, policy, exceptions)
    write_reports(scans, args, today, policy, exceptions)
    for scan in scans:
        if scan.new_findings:
            done = issues.upsert(scan.issue_title(), report.issue_body(scan, today))
            print(f"rescan: {done}")
    return EXIT_FINDINGS if any(s.fails for s in scans) else 0
