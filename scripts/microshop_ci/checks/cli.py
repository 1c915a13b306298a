"""`microshop test [--no-cluster] [--result FILE] [PYTEST_ARGS...]`: every check, then the cluster.

ruff check, ruff format --check, mypy (strict), pytest with coverage on two pytest-xdist workers
(the Docker tests in order on one of them: tests/conftest.py's xdist_group), then two coverage
floors:
the services at 90%; the pipeline's own code (scripts/microshop_ci) at 90% for the whole suite
(measured 92%) and at 83% for a selection such as the pipeline's checks stage (its fast set
measured 84%: the build stage is mostly exercised by the slow Docker tests); lines and branches.
Every pinned tool is built before pytest for the whole suite and, whenever CI is set, for any
selection too (on_ci), so no test builds one inside its timeout.
Coverage follows the Python processes the tests start (pyproject.toml: [run] patch =
subprocess). The services' 99% here is not GitHub's figure: its test job runs against MongoDB 7,
where the database-restart test does not run. Raise a floor, never lower it. Without PYTEST_ARGS
and --no-cluster, the kind end-to-end run follows (microshop cluster e2e); CI never skips it.

--result FILE writes the stage's typed result (core.result.ChecksResult): pytest's counts from a
JUnit file written beside it, and the line coverage of reports/coverage.xml.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from defusedxml import ElementTree

from microshop_ci.core.paths import REPO_ROOT, REPORTS_DIR
from microshop_ci.core.result import ChecksResult, PytestCounts, write_result
from microshop_ci.core.tools import ToolError, microshop, python_module, run_visible, venv_tool

TYPED = ("services/api-service/src", "services/client-service/src", "scripts/microshop_ci")
FLOORS = {"services/*": 90, "scripts/microshop_ci/*": 90}  # the whole suite
SELECTION_FLOORS = {"services/*": 90, "scripts/microshop_ci/*": 83}  # with pytest arguments
COVERAGE_XML = REPORTS_DIR / "coverage.xml"
# Fulcio, Rekor and Trillian: the keyless tests (and the cluster run) start the local Sigstore
SIGSTORE_BUILD_LABEL = "local Sigstore (Fulcio, Rekor, Trillian)"
# Two pytest-xdist workers (the build machines have two cores): the Docker tests in one group,
# in order, on one worker; every other file beside them (tests/conftest.py: xdist_group).
PARALLEL = ("-n", "2", "--dist", "loadgroup")


def log(message: str) -> None:
    """A progress line on stderr, as scripts/lib.sh's log() writes it."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def pytest_counts(junit: Path) -> PytestCounts | None:
    """passed / failed / skipped from pytest's JUnit XML (None when absent or unreadable)."""
    try:
        root = ElementTree.parse(junit).getroot()
    except (OSError, ElementTree.ParseError):
        return None
    suite = root if root is None or root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return None
    total = int(suite.get("tests", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    return PytestCounts(total - failed - skipped, failed, skipped)


def coverage_percent(coverage_xml: Path) -> float | None:
    """Line coverage in percent from coverage.py's XML report."""
    try:
        root = ElementTree.parse(coverage_xml).getroot()
        return None if root is None else round(float(root.get("line-rate", 0)) * 100, 1)
    except (OSError, ElementTree.ParseError, ValueError):
        return None


def floors(pytest_args: Sequence[str]) -> dict[str, int]:
    """The coverage floors of this run: none under --no-cov (nothing measured: GitHub's
    slow-tests job), the selection's with pytest arguments, else the whole suite's."""
    if "--no-cov" in pytest_args:
        return {}
    return SELECTION_FLOORS if pytest_args else FLOORS


def on_ci(env: Mapping[str, str]) -> bool:
    """CI is set (GitHub Actions sets CI=true on every runner), and not to "false" or "0"."""
    return env.get("CI", "").strip().lower() not in ("", "false", "0")


def commands(
    pytest_args: Sequence[str], env: Mapping[str, str] | None = None
) -> list[tuple[str, tuple[str, ...]]]:
    """(label, argv) of every check, in order."""
    ruff = venv_tool("ruff")
    # The whole suite, or any selection on CI: every pinned tool and the local Sigstore's
    # components first, so no test pays a cold
    # build inside its 900 s timeout (on a new machine the pipeline's green run waited on trivy
    # and istioctl being built beside it and timed out; GitHub's checks job, a selection, built
    # its tools inside tests). A warm cache answers in a fraction of a second.
    prebuild = not pytest_args or on_ci(os.environ if env is None else env)
    return [
        ("ruff check", (ruff, "check", ".")),
        ("ruff format --check", (ruff, "format", "--check", ".")),
        ("mypy (strict)", python_module("mypy", *TYPED)),
        *(
            (
                ("pinned tools (scripts/tool --all)", microshop("tool", "--all")),
                (SIGSTORE_BUILD_LABEL, microshop("sigstore-build")),
            )
            if prebuild
            else ()
        ),
        (
            "pytest",
            python_module(
                "pytest",
                *PARALLEL,
                "--cov",
                "--cov-report=term",
                f"--cov-report=xml:{COVERAGE_XML}",
                *pytest_args,
            ),
        ),
        *(
            (
                f"coverage floor: {where} {floor}%",
                python_module(
                    "coverage",
                    "report",
                    f"--include={where}",
                    f"--fail-under={floor}",
                    "--format=total",
                ),
            )
            for where, floor in floors(pytest_args).items()
        ),
    ]


def run_checks(pytest_args: Sequence[str]) -> str | None:
    """Run every check in order; the label of the first that failed, or None."""
    for label, argv in commands(pytest_args):
        log(label)
        if run_visible(argv, cwd=REPO_ROOT) != 0:
            return label
    return None


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop test [--no-cluster] [--result FILE] [PYTEST_ARGS...]`."""
    parser.add_argument("--no-cluster", action="store_true", help="skip the kind end-to-end run")
    parser.add_argument("--result", type=Path, help="write the stage's typed result here")
    parser.set_defaults(extra_args=[])  # pytest's own arguments, passed through


def run_command(args: argparse.Namespace) -> int:
    """0 when every check passed (and the cluster run, when it runs: only without pytest
    arguments and without --no-cluster)."""
    result: Path | None = args.result
    pytest_args: list[str] = list(args.extra_args)
    cluster = not args.no_cluster and not pytest_args
    if result is not None:
        pytest_args = [f"--junitxml={result.with_name('junit.xml')}", *pytest_args]
        result.with_name("junit.xml").unlink(missing_ok=True)
    try:
        failed = run_checks(pytest_args)
    finally:
        if result is not None:
            outcome = ChecksResult(
                pytest_counts(result.with_name("junit.xml")), coverage_percent(COVERAGE_XML)
            )
            write_result(result, outcome)
    if failed is not None:
        raise ToolError(f"{failed} failed (output above)")
    if cluster:
        log("kind end to end (microshop cluster e2e)")
        return run_visible(microshop("cluster", "e2e"), cwd=REPO_ROOT)
    return 0
