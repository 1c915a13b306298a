"""Lint the GitHub workflows and composite actions (scripts/lint-workflows [--pins FILE]).

actionlint (pinned, with shellcheck where present), zizmor (locked, offline audits, with the
security gates' config policies/gates/zizmor.yml: hash pins for every action) and the house rules
(microshop_ci.gha.policy: SHA pins from .github/actions-pins.yaml, permissions, timeouts, one-line
run steps calling existing scripts). Every linter runs; exit 1 if any found something. Never looks
at tests/fixtures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.core.tools import pinned_tool, run_visible, venv_tool
from microshop_ci.gha import policy

ZIZMOR_CONFIG = Path("policies/gates/zizmor.yml")


def log(message: str) -> None:
    """A progress line on stderr, as the other entry points write it."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def files(pattern: str) -> list[str]:
    """Repository-relative paths matching pattern, sorted."""
    return sorted(str(p.relative_to(REPO_ROOT)) for p in REPO_ROOT.glob(pattern))


def linted(label: str, argv: Sequence[str]) -> bool:
    """Run one linter with its output shown; True when it found nothing."""
    log(label)
    return run_visible(argv, cwd=REPO_ROOT) == 0


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop lint-workflows [--pins FILE]`."""
    parser.add_argument(
        "--pins", type=Path, help="the pin list (default: .github/actions-pins.yaml)"
    )


def run_command(args: argparse.Namespace) -> int:
    """Every linter, then one line saying whether the workflows are clean."""
    workflows = files(".github/workflows/*.yml")
    actions = files(".github/actions/*/action.yml")
    actionlint, zizmor = pinned_tool("actionlint"), venv_tool("zizmor")
    config = ["--config", str(ZIZMOR_CONFIG)] if (REPO_ROOT / ZIZMOR_CONFIG).is_file() else []
    results = [
        linted(f"actionlint {' '.join(workflows)}", [actionlint, "-no-color", *workflows]),
        linted(
            f"zizmor (offline) .github {' '.join(config)}",
            [zizmor, "--offline", "--no-progress", "--color=never", *config, ".github"],
        ),
    ]
    log("workflow policy")
    paths = [REPO_ROOT / name for name in [*workflows, *actions]]
    results.append(policy.check(REPO_ROOT, args.pins, paths) == 0)
    log("workflows: clean" if all(results) else "workflows: findings above")
    return 0 if all(results) else 1
