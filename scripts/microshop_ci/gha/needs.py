"""The single required check: fail unless every job the final job needs succeeded."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from microshop_ci.core.errors import UsageError


def failed_jobs(needs: Mapping[str, Any], allow_skipped: frozenset[str] = frozenset()) -> list[str]:
    """Return 'job: result' for each job whose result is not success (or an allowed skip)."""
    bad = []
    for name, info in sorted(needs.items()):
        result = info.get("result") if isinstance(info, Mapping) else None
        if result == "success" or (result == "skipped" and name in allow_skipped):
            continue
        bad.append(f"{name}: {result}")
    return bad


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop require-jobs [--allow-skipped JOB]...`, with NEEDS_JSON set."""
    parser.add_argument("--allow-skipped", action="append", default=[], metavar="JOB")


def run_command(args: argparse.Namespace) -> int:
    """Read `toJSON(needs)` from NEEDS_JSON and exit 1 if any job did not succeed."""
    raw = os.environ.get("NEEDS_JSON")
    if not raw:
        raise UsageError("NEEDS_JSON is not set (pass `toJSON(needs)` through env:)")
    try:
        needs = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"NEEDS_JSON is not JSON: {exc}") from exc
    if not isinstance(needs, dict) or not needs:
        raise UsageError("NEEDS_JSON names no job: the final job must `needs` every job")
    bad = failed_jobs(needs, frozenset(args.allow_skipped))
    for line in bad:
        print(f"require-jobs: {line}", file=sys.stderr)
    print(f"require-jobs: {len(needs) - len(bad)}/{len(needs)} jobs succeeded")
    return 1 if bad else 0
