"""The single required check: fail unless every job the final job needs succeeded."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any


def failed_jobs(needs: Mapping[str, Any], allow_skipped: frozenset[str] = frozenset()) -> list[str]:
    """Return 'job: result' for each job whose result is not success (or an allowed skip)."""
    bad = []
    for name, info in sorted(needs.items()):
        result = info.get("result") if isinstance(info, Mapping) else None
        if result == "success" or (result == "skipped" and name in allow_skipped):
            continue
        bad.append(f"{name}: {result}")
    return bad


def main(argv: Sequence[str] | None = None) -> int:
    """Read `toJSON(needs)` from NEEDS_JSON and exit 1 if any job did not succeed."""
    parser = argparse.ArgumentParser(prog="require-jobs", description=__doc__)
    parser.add_argument("--allow-skipped", action="append", default=[], metavar="JOB")
    args = parser.parse_args(argv)
    raw = os.environ.get("NEEDS_JSON")
    if not raw:
        print(
            "require-jobs: NEEDS_JSON is not set (pass `toJSON(needs)` through env:)",
            file=sys.stderr,
        )
        return 2
    try:
        needs = json.loads(raw)
    except json.JSONDecodeError as exc:
        print(f"require-jobs: NEEDS_JSON is not JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(needs, dict) or not needs:
        print(
            "require-jobs: NEEDS_JSON names no job: the final job must `needs` every job",
            file=sys.stderr,
        )
        return 2
    bad = failed_jobs(needs, frozenset(args.allow_skipped))
    for line in bad:
        print(f"require-jobs: {line}", file=sys.stderr)
    print(f"require-jobs: {len(needs) - len(bad)}/{len(needs)} jobs succeeded")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
