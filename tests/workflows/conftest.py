"""Paths shared by the workflow checks: the real tree, the bad fixtures and the pin list."""

from __future__ import annotations

from pathlib import Path

import pytest

from microshop_ci.gha.pins import PINS_PATH, Pin, load_pin_list
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
