"""scripts/kyverno-test: every policy's Kyverno CLI suite runs, passes, and can fail.

`kyverno test` counts a row of an invalid (skipped) policy as passed, so the table is read row
by row: every row must say Pass with a reason other than "Invalid Policy". Each suite must expect
at least one `fail` and one `pass` (or `skip`) result, so every policy is proven in both directions.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from microshop_ci.core.errors import UsageError
from microshop_ci.core.tools import pinned_tool, run
from microshop_ci.k8s.common import POLICIES_DIR
from microshop_ci.k8s.policies import policy_files

SUITE = Path(".kyverno-test") / "kyverno-test.yaml"


@dataclass
class SuiteReport:
    """What one policy's suite expects and what `kyverno test` said."""

    policy: str
    suite: Path
    expected: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def expected_results(suite: Path) -> Counter[str]:
    """Counts of expected results (pass, fail, skip...) over every listed resource."""
    data: dict[str, Any] = yaml.safe_load(suite.read_text()) or {}
    counts: Counter[str] = Counter()
    for result in data.get("results") or []:
        counts[str(result.get("result"))] += len(result.get("resources") or [])
    return counts


def table_rows(output: str) -> list[list[str]]:
    """The data rows of kyverno's result table: [id, policy, rule, resource, result, reason]."""
    rows = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) >= 6 and cells[0].isdigit():
            rows.append(cells)
    return rows


_SECTION = re.compile(r"^Loading test\s+\(\s*(?P<path>\S+)\s*\)", re.MULTILINE)


def run_kyverno_test(root: Path) -> tuple[int, dict[Path, str]]:
    """One `kyverno test` over root: its exit code and its output cut per suite file."""
    result = run([pinned_tool("kyverno"), "test", str(root), "--remove-color"])
    output = result.stdout + result.stderr
    matches = list(_SECTION.finditer(output))
    sections = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(output)
        sections[Path(match["path"]).resolve()] = output[match.start() : end]
    if not matches:
        sections[root.resolve()] = output
    return result.returncode, sections


def check_suite(policy_file: Path, section: str | None) -> SuiteReport:
    """List every way one policy's suite (and its part of kyverno's output) is not a proof."""
    suite = policy_file.parent / SUITE
    report = SuiteReport(policy_file.stem, suite)
    if not suite.is_file():
        report.problems.append(f"{policy_file}: no Kyverno CLI suite at {suite}")
        return report
    report.expected = expected_results(suite)
    if report.expected["fail"] < 1:
        report.problems.append(f"{suite}: no resource is expected to fail")
    if report.expected["pass"] + report.expected["skip"] < 1:
        report.problems.append(f"{suite}: no resource is expected to pass")
    if section is None:
        report.problems.append(f"{suite}: kyverno test did not run this suite")
        return report
    rows = table_rows(section)
    for row in rows:
        if row[4] != "Pass" or "Invalid Policy" in row[5]:
            report.problems.append(f"{suite}: {row[1]}/{row[2]} on {row[3]}: {row[4]} ({row[5]})")
    # verifyImages rules print an extra "Excluded" row per result: count distinct results.
    checked = {(row[1], row[2], row[3]) for row in rows}
    total = sum(report.expected.values())
    if len(checked) != total:
        report.problems.append(f"{suite}: {total} results expected, kyverno checked {len(checked)}")
    return report


def check_all(root: Path = POLICIES_DIR) -> tuple[list[SuiteReport], list[str]]:
    """Every policy under root checked, and the problems of the kyverno run as a whole."""
    code, sections = run_kyverno_test(root)
    reports = [
        check_suite(p, sections.get((p.parent / SUITE).resolve())) for p in policy_files(root)
    ]
    general = []
    if code != 0:
        tail = " / ".join("".join(sections.values()).strip().splitlines()[-3:])
        general.append(f"kyverno test {root} exited {code}: {tail}")
    return reports, general


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop kyverno-test [POLICIES_DIR]`."""
    parser.add_argument("root", nargs="?", type=Path, default=POLICIES_DIR)


def run_command(args: argparse.Namespace) -> int:
    """Print one line per policy; exit 1 when any suite is missing, weak or failing."""
    reports, general = check_all(args.root)
    if not reports:
        raise UsageError(f"no policy found under {args.root}")
    for report in reports:
        status = "FAIL" if report.problems else "ok"
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report.expected.items()))
        print(f"{status:4} {report.policy} ({counts})")
        for problem in report.problems:
            print(f"     {problem}")
    for problem in general:
        print(f"FAIL {problem}")
    failed = [r for r in reports if r.problems]
    results = sum(sum(r.expected.values()) for r in reports)
    proven = len(reports) - len(failed)
    print(f"kyverno-test: {proven} policies proven, {len(failed)} not ({results} results)")
    return 1 if failed or general else 0
