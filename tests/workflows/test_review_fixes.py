"""What the first real run of the workflows needs, asserted on the YAML (issue 12's review)."""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
SETUP_ACTION = REPO_ROOT / ".github" / "actions" / "setup-tools" / "action.yml"


def load(path: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO_ROOT / path).read_text())
    return doc


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def runs_of(job: dict[str, Any]) -> list[str]:
    return [str(step["run"]) for step in steps_of(job) if "run" in step]


# defect 4: tool caches per job's tool set, Go's module cache, slow tests in their own job


def test_the_tool_cache_key_names_the_jobs_tool_set_and_the_pinned_versions() -> None:
    steps = load(".github/actions/setup-tools/action.yml")["runs"]["steps"]
    (cache,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache@")]
    key = cache["with"]["key"]
    assert "${{ inputs.tools }}" in key
    assert "hashFiles('scripts/tool', 'scripts/tool-versions.env'" in key
    assert cache["with"]["restore-keys"].strip() == (
        "microshop-tools-${{ runner.os }}-[${{ inputs.tools }}]-"
    )
    assert cache["with"]["path"].split() == ["~/.cache/microshop/tools", "~/go/pkg/mod"]


def test_every_pr_job_that_builds_tools_names_them_and_caches() -> None:
    jobs = load(".github/workflows/pr.yml")["jobs"]
    for name, job in jobs.items():
        for step in steps_of(job):
            if step.get("uses") == "./.github/actions/setup-tools":
                assert step["with"]["cache"] == "true", name


def test_docker_and_pipeline_tests_run_in_their_own_job_which_required_waits_for() -> None:
    jobs = load(".github/workflows/pr.yml")["jobs"]
    assert runs_of(jobs["checks"]) == ['scripts/test -m "not slow and not docker"']
    assert runs_of(jobs["slow-tests"]) == ['scripts/test --no-cov -m "slow or docker"']
    assert "slow-tests" in jobs["required"]["needs"]
