"""Every job that starts a loopback registry stops it, whatever happened before, on its own data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.workflows.conftest import workflow_files

UP, DOWN = "scripts/registry up", "scripts/registry down"


def jobs_of(path: Path) -> dict[str, dict[str, Any]]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return dict(doc["jobs"])


def registry_jobs() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.name}/{name}", job)
        for path in workflow_files()
        for name, job in jobs_of(path).items()
        if any(step.get("run") == UP for step in job.get("steps") or [])
    ]


def test_the_pr_images_job_and_the_release_build_and_push_jobs_start_a_registry() -> None:
    assert [name for name, _ in registry_jobs()] == [
        "pr.yml/images",
        "release.yml/build",
        "release.yml/push",
    ]


def stop_problems(steps: list[dict[str, Any]]) -> list[str]:
    """Why these steps leave a started registry running ([] when they do not)."""
    ups = [i for i, step in enumerate(steps) if step.get("run") == UP]
    downs = [i for i, step in enumerate(steps) if step.get("run") == DOWN]
    if not ups:
        return []
    if len(downs) != 1 or downs[0] < ups[-1]:
        return [f"one `{DOWN}` step after `{UP}`, found {len(downs)}"]
    up, down = steps[ups[-1]], steps[downs[0]]
    problems = []
    if down.get("if") != "${{ always() }}":
        problems.append(f"`{DOWN}` runs only if: ${{{{ always() }}}}, found {down.get('if')!r}")
    data = (up.get("env") or {}).get("MICROSHOP_REGISTRY_DATA")
    if (down.get("env") or {}).get("MICROSHOP_REGISTRY_DATA") != data:
        problems.append(f"`{DOWN}` reads the pid file where `{UP}` wrote it ({data})")
    return problems


@pytest.mark.parametrize(("name", "job"), registry_jobs(), ids=[n for n, _ in registry_jobs()])
def test_each_job_stops_the_registry_it_started_even_after_a_failed_step(
    name: str, job: dict[str, Any]
) -> None:
    assert stop_problems(list(job["steps"])) == [], name


def test_a_job_without_the_stop_step_or_with_it_on_success_only_is_named() -> None:
    up = {"run": UP, "env": {"MICROSHOP_REGISTRY_DATA": "reports/r"}}
    down = {"run": DOWN, "if": "${{ always() }}", "env": {"MICROSHOP_REGISTRY_DATA": "reports/r"}}
    assert stop_problems([up, {"run": "scripts/build-images"}, down]) == []
    assert stop_problems([up]) == [f"one `{DOWN}` step after `{UP}`, found 0"]
    assert stop_problems([down, up]) == [f"one `{DOWN}` step after `{UP}`, found 1"]
    assert stop_problems([up, {"run": DOWN, "env": down["env"]}]) == [
        f"`{DOWN}` runs only if: ${{{{ always() }}}}, found None"
    ]
    assert stop_problems([up, {"run": DOWN, "if": "${{ always() }}"}]) == [
        f"`{DOWN}` reads the pid file where `{UP}` wrote it (reports/r)"
    ]
