"""Shared by the workflow checks: the real tree, the bad fixtures, the pin list, the tree check."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from microshop_ci.gha.pins import PINS_PATH, Pin, load_pin_list
from microshop_ci.gha.policy import Checker, describe
from tests.conftest import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
ACTIONS = REPO_ROOT / ".github" / "actions"
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "workflows"
PINS_FILE = REPO_ROOT / PINS_PATH


def workflow_files() -> list[Path]:
    """The repository's real workflows (never the fixtures)."""
    return sorted(WORKFLOWS.glob("*.yml"))


def action_files() -> list[Path]:
    """The repository's composite actions."""
    return sorted(ACTIONS.glob("*/action.yml"))


@pytest.fixture(scope="session")
def pins() -> dict[str, Pin]:
    """Every `owner/repo@sha` of the project's pin list (.github/actions-pins.yaml)."""
    found = load_pin_list(PINS_FILE)
    assert found, f"no pin parsed from {PINS_FILE}"
    return found


def tree_findings(repo: Path, env: Mapping[str, str] | None = None) -> list[str]:
    """Every finding on a repository's workflows and actions, by the checker scripts/lint-workflows
    runs, pin rule included (on GitHub with a token an unlisted SHA is asked about): one rule."""
    checker = Checker.for_repo(repo, env=env)
    files = [
        *sorted(repo.glob(".github/workflows/*.yml")),
        *sorted(repo.glob(".github/actions/*/action.yml")),
    ]
    return [describe(f) for path in files for f in checker.check_file(path)]


def checkout_copy(dest: Path) -> Path:
    """A copy of the tracked (and new, not ignored) files of .github and scripts in dest/checkout,
    nothing beside it: what the workflow checks read, as a GitHub checkout has it."""
    clone = dest / "checkout"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", ".github", "scripts"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        target = clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    return clone
