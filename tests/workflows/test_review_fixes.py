"""What the first real run of the workflows needs, asserted on the YAML."""

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


# tool caches per job's tool set, Go's module cache, slow tests in their own job


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


# the release gates before it pushes, builds without cache, tags vX.Y.Z, only on vX.Y.Z


def release_build_runs() -> list[str]:
    return runs_of(load(".github/workflows/release.yml")["jobs"]["build"])


def test_release_triggers_only_on_semver_tags() -> None:
    assert load(".github/workflows/release.yml")[True] == {
        "push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}
    }


def test_release_scans_before_anything_reaches_ghcr() -> None:
    job = load(".github/workflows/release.yml")["jobs"]["build"]
    steps = steps_of(job)
    order = [str(s.get("run") or s.get("uses")) for s in steps]
    scan = next(i for i, s in enumerate(order) if s.startswith("scripts/scan-images"))
    login = next(i for i, s in enumerate(order) if s.startswith("docker/login-action@"))
    promote = next(i for i, s in enumerate(order) if s.startswith("scripts/promote-images"))
    build = next(i for i, s in enumerate(order) if s.startswith("scripts/build-images"))
    assert build < scan < login < promote
    # the build pushes to the loopback registry, never to GHCR
    assert steps[build]["env"] == {"MICROSHOP_REGISTRY": ""}
    assert "scripts/registry up" in order[:build]


def test_release_builds_without_cache_and_pushes_the_release_tag() -> None:
    runs = release_build_runs()
    (build,) = [r for r in runs if r.startswith("scripts/build-images")]
    assert "--no-cache" in build.split()
    (promote,) = [r for r in runs if r.startswith("scripts/promote-images")]
    assert promote.endswith('--release-tag "$RELEASE_TAG"')
    job = load(".github/workflows/release.yml")["jobs"]["build"]
    (step,) = [s for s in steps_of(job) if str(s.get("run", "")).startswith("scripts/promote")]
    assert step["env"] == {"RELEASE_TAG": "${{ github.ref_name }}"}


def test_the_provenance_job_may_write_its_storage_record() -> None:
    jobs = load(".github/workflows/release.yml")["jobs"]
    for name, job in jobs.items():
        if any(str(s.get("uses", "")).startswith("actions/attest") for s in steps_of(job)):
            assert job["permissions"]["artifact-metadata"] == "write", name
            assert job["permissions"]["attestations"] == "write", name
            assert job["permissions"]["id-token"] == "write", name


# on GitHub the pin check may ask the API about a Dependabot bump


def test_the_workflows_job_gives_the_pin_check_a_read_only_token() -> None:
    job = load(".github/workflows/pr.yml")["jobs"]["workflows"]
    assert job["permissions"] == {"contents": "read"}
    (step,) = [s for s in steps_of(job) if s.get("run") == "scripts/lint-workflows"]
    assert step["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}


# kind-e2e keeps its results and diagnostics on every run


def test_kind_e2e_uploads_results_and_diagnostics_always() -> None:
    steps = steps_of(load(".github/workflows/kind-e2e.yml")["jobs"]["e2e"])
    uploads = {
        s["with"]["name"]: s
        for s in steps
        if str(s.get("uses", "")).startswith("actions/upload-artifact@")
    }
    assert set(uploads) == {"kind-diagnostics", "kind-e2e-reports"}
    assert all(s["if"] == "${{ always() }}" for s in uploads.values())
    assert uploads["kind-e2e-reports"]["with"]["path"].split() == [
        "reports/e2e/junit.xml",
        "reports/images.json",
        "reports/supply-chain",
    ]
    (collect,) = [s for s in steps if str(s.get("run", "")).startswith("scripts/kind-diagnostics")]
    assert collect["if"] == "${{ always() }}"
