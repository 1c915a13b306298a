"""actionlint and zizmor: clean on the real workflows, failing on the bad fixtures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, tool_path
from tests.workflows.conftest import FIXTURES, workflow_files

ZIZMOR = Path(sys.executable).parent / "zizmor"


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool_path("actionlint"), "-no-color", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )


def _zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    config = REPO_ROOT / "policies" / "gates" / "zizmor.yml"  # the gates' config, when present
    options = ["--config", str(config)] if config.is_file() else []
    return subprocess.run(
        [str(ZIZMOR), "--offline", "--no-progress", "--color=never", *options, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    result = _actionlint(*workflow_files())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_actionlint_fails_on_an_unknown_job_key() -> None:
    result = _actionlint(FIXTURES / "actionlint-broken.yml")
    assert result.returncode == 1
    assert 'unexpected key "step-timeout"' in result.stdout


def test_zizmor_finds_nothing_in_the_workflows_actions_and_dependabot() -> None:
    result = _zizmor(REPO_ROOT / ".github")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


@pytest.mark.parametrize(
    ("fixture", "audit"),
    [
        ("expression-in-run.yml", "template-injection"),
        ("pull-request-target.yml", "dangerous-triggers"),
    ],
)
def test_zizmor_fails_on_a_dangerous_workflow(fixture: str, audit: str) -> None:
    result = _zizmor(FIXTURES / fixture)
    assert result.returncode != 0
    assert f"error[{audit}]" in result.stdout


def test_lint_workflows_script_runs_every_linter_and_passes_on_the_repo() -> None:
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "lint-workflows")],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    output = result.stdout + result.stderr
    assert "actionlint" in output
    assert "zizmor" in output
    assert "workflow-policy:" in output
    assert result.returncode == 0, output
