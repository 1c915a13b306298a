"""The house rules for workflows: the real tree obeys them, each bad fixture breaks one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from microshop_ci.cli import main as microshop
from microshop_ci.gha.pins import Pin, PinRule
from microshop_ci.gha.policy import Checker, describe
from tests.conftest import REPO_ROOT
from tests.workflows.conftest import (
    FIXTURES,
    action_files,
    checkout_copy,
    tree_findings,
    workflow_files,
)

# fixture file -> the one rule it breaks
BAD_FIXTURES = {
    "pull-request-target.yml": "no-pull-request-target",
    "top-permissions.yml": "top-permissions-empty",
    "job-permissions.yml": "job-permissions",
    "timeout.yml": "timeout",
    "unpinned-action.yml": "pinned-sha",
    "unknown-sha.yml": "known-pin",
    "tag-comment.yml": "tag-comment",
    "expression-in-run.yml": "no-expression-in-run",
    "multi-line-run.yml": "one-line-run",
    "missing-script.yml": "script-exists",
    "not-a-script.yml": "run-calls-script",
    "persist-credentials.yml": "persist-credentials",
    "no-concurrency.yml": "cancel-superseded",
    "no-required-job.yml": "required-job",
    "image-digest.yml": "image-digest",
    "latest-version.yml": "no-latest",
    "push-concurrency.yml": "push-concurrency",
}


@pytest.fixture(scope="module")
def checker(pins: dict[str, Pin]) -> Checker:
    """The rules offline (the pin list only): the fixtures' findings do not depend on GitHub."""
    return Checker(repo=REPO_ROOT, pins=PinRule(pins))


def test_the_repository_has_the_four_workflows_and_the_setup_action() -> None:
    names = {p.name for p in workflow_files()}
    assert {"pr.yml", "release.yml", "kind-e2e.yml", "rescan.yml"} <= names
    assert [p.parent.name for p in action_files()] == ["setup-tools"]


def test_every_workflow_and_action_obeys_the_house_rules() -> None:
    # the same checker and pin rule as scripts/lint-workflows, with this process's environment
    assert tree_findings(REPO_ROOT) == []


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_every_job_has_a_timeout_and_explicit_permissions(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert doc["permissions"] == {}
    assert "pull_request_target" not in doc[True]
    for name, job in doc["jobs"].items():
        assert isinstance(job["timeout-minutes"], int), f"{path.name}: {name}"
        assert isinstance(job["permissions"], dict), f"{path.name}: {name}"


def test_id_token_write_is_granted_only_to_the_signing_job() -> None:
    granted = [
        f"{path.name}:{name}"
        for path in workflow_files()
        for name, job in yaml.safe_load(path.read_text())["jobs"].items()
        if job["permissions"].get("id-token") == "write"
    ]
    assert granted == ["release.yml:sign"]


def test_the_pr_workflow_has_one_required_job_fed_by_every_other_job() -> None:
    jobs = yaml.safe_load((REPO_ROOT / ".github/workflows/pr.yml").read_text())["jobs"]
    assert set(jobs["required"]["needs"]) == set(jobs) - {"required"}
    assert jobs["required"]["if"] == "${{ always() }}"


def test_the_good_fixture_passes(checker: Checker) -> None:
    assert checker.check_file(FIXTURES / "good.yml") == []


@pytest.mark.parametrize(("fixture", "rule"), sorted(BAD_FIXTURES.items()))
def test_each_bad_fixture_breaks_exactly_its_rule(
    checker: Checker, fixture: str, rule: str
) -> None:
    findings = checker.check_file(FIXTURES / fixture)
    assert [f.rule_id for f in findings] == [rule], "\n".join(map(describe, findings))


def test_every_bad_fixture_is_listed() -> None:
    on_disk = {p.name for p in FIXTURES.glob("*.yml")} - {"good.yml", "actionlint-broken.yml"}
    assert on_disk == set(BAD_FIXTURES)


def test_invalid_yaml_is_reported_not_raised(checker: Checker, tmp_path: Path) -> None:
    bad = tmp_path / "broken.yml"
    bad.write_text("jobs: [unclosed\n")
    assert [f.rule_id for f in checker.check_file(bad)] == ["yaml"]


def test_cli_exits_1_on_findings_and_names_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    code = microshop(["workflow-policy", "--repo", str(REPO_ROOT), str(FIXTURES / "timeout.yml")])
    out = capsys.readouterr().out
    assert code == 1
    assert "timeout.yml: jobs.build: [timeout]" in out


def test_cli_exits_0_on_a_clean_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert microshop(["workflow-policy", "--repo", str(REPO_ROOT), str(FIXTURES / "good.yml")]) == 0
    assert "1 files, 0 findings" in capsys.readouterr().out


def test_cli_refuses_a_missing_pin_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = microshop(
        ["workflow-policy", "--repo", str(REPO_ROOT), "--pins", str(tmp_path / "nope.yaml")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "nope.yaml: cannot read the pin list" in err
    assert "Traceback" not in err


def _callers_text() -> str:
    """Everything that runs scripts here: the tests, the local pipeline, the kind end-to-end run
    (scripts/cluster-e2e, which scripts/test ends with), scripts/test, .ci/run."""
    files = [
        *(p for p in (REPO_ROOT / "tests").rglob("*.py") if "fixtures" not in p.parts),
        *(REPO_ROOT / "scripts" / "microshop_ci" / "pipeline").glob("*.py"),
        REPO_ROOT / "scripts" / "microshop_ci" / "cluster" / "flow.py",
        REPO_ROOT / "scripts" / "test",
        REPO_ROOT / ".ci" / "run",
    ]
    return "\n".join(p.read_text() for p in files if p.is_file())


def test_every_script_the_workflows_call_is_exercised_by_tests_or_the_local_pipeline() -> None:
    called = {
        name
        for path in workflow_files() + action_files()
        for name in re.findall(r"run:\s*(?:\"\$\()?scripts/([A-Za-z0-9_.-]+)", path.read_text())
    }
    text = _callers_text()
    unexercised = sorted(
        name for name in called if f'"{name}"' not in text and f"scripts/{name}" not in text
    )
    assert unexercised == [], f"called by workflows but run by no test or pipeline: {unexercised}"


def test_the_policy_check_needs_nothing_beside_the_checkout(tmp_path: Path) -> None:
    # a copy of the tracked files with no ../shared next to it, as a GitHub checkout is
    clone = checkout_copy(tmp_path)
    assert not (tmp_path / "shared").exists()
    # the environment as it is (on GitHub: the token that lets a Dependabot bump through)
    result = subprocess.run(
        [sys.executable, "-m", "microshop_ci", "workflow-policy", "--repo", str(clone)],
        cwd=clone,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(clone / "scripts")},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "workflow-policy: 5 files, 0 findings"


HEAD = "permissions: {}\n"


@pytest.mark.parametrize(
    ("text", "findings"),
    [
        ("- a list\n", ["file: [yaml] expected a mapping at the top level"]),
        (f"on: push\n{HEAD}jobs: {{}}\n", ["jobs: [jobs] a workflow needs at least one job"]),
        (
            f"on: [push, pull_request_target]\n{HEAD}jobs:\n  a: just a string\n",
            [
                "jobs.a: [jobs] a job must be a mapping",
                "on: [no-pull-request-target] pull_request_target runs untrusted code with "
                "secrets: use pull_request",
            ],
        ),
        (
            f"on: push\n{HEAD}jobs:\n  call:\n    permissions: {{}}\n"
            "    uses: ./.github/workflows/missing.yml\n",
            [
                "jobs.call: [local-action] ./.github/workflows/missing.yml "
                "does not exist in the repo"
            ],
        ),
        (
            f"on: push\n{HEAD}jobs:\n  a:\n    permissions: {{}}\n    timeout-minutes: 5\n"
            "    container: {image: 'debian:12'}\n"
            "    services:\n      db: {image: 'mongo:7'}\n      odd: not-a-mapping\n"
            "    steps:\n      - just a string\n      - uses: docker://alpine:3\n",
            [
                "jobs.a.container: [image-digest] debian:12: pin the image by @sha256 digest",
                "jobs.a.services.db: [image-digest] mongo:7: pin the image by @sha256 digest",
                "jobs.a.steps[1]: [image-digest] alpine:3: pin the image by @sha256 digest",
            ],
        ),
    ],
)
def test_odd_workflow_shapes_are_findings_not_errors(
    checker: Checker, tmp_path: Path, text: str, findings: list[str]
) -> None:
    path = tmp_path / "odd.yml"
    path.write_text(text)
    assert [describe(f).split(": ", 1)[1] for f in checker.check_file(path)] == findings
