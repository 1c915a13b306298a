"""Paths shared by the workflow checks: the real tree, the bad fixtures and the shared pin list."""

from __future__ import annotations

from pathlib import Path

import pytest

from microshop_ci.gha.policy import load_pins
from tests.conftest import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
ACTIONS = REPO_ROOT / ".github" / "actions"
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "workflows"
PINS_FILE = REPO_ROOT.parent / "shared" / "reference" / "github-actions-pins.md"


def workflow_files() -> list[Path]:
    """The repository's real workflows (never the fixtures)."""
    return sorted(WORKFLOWS.glob("*.yml"))


def action_files() -> list[Path]:
    """The repository's composite actions."""
    return sorted(ACTIONS.glob("*/action.yml"))


@pytest.fixture(scope="session")
def pins() -> set[str]:
    """Every `owner/repo@sha` of the shared pin list; fails clearly when the list is missing."""
    if not PINS_FILE.is_file():
        pytest.fail(f"shared pin list not found at {PINS_FILE} (shared/ must sit beside the repo)")
    found = load_pins(PINS_FILE)
    assert found, f"no pin parsed from {PINS_FILE}"
    return found
