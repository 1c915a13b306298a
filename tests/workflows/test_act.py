"""The workflow files themselves, run here by a real workflow runner (act), steps on this machine.

act (scripts/tool act) runs pr.yml's cheap jobs from their YAML with the self-hosted platform
(`-P ubuntu-24.04=-self-hosted`: no runner image), on a copy of the tracked files with no
../shared beside it, and the hosted actions mapped to the local stand-ins in
tests/workflows/act-actions. What cannot run here, and why, is in that folder's README and in
docs/ci.md: `checks` and `slow-tests` are the test suite itself (it would run this test again),
`gates` and `images` need Trivy's online database and Docker builds, the release jobs need
GitHub's OIDC token and GHCR, kind-e2e needs images that cannot be pulled here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from microshop_ci.gha.pins import load_pin_list
from tests.conftest import REPO_ROOT, tool_path
from tests.workflows.conftest import PINS_FILE

STAND_INS = REPO_ROOT / "tests" / "workflows" / "act-actions"
MAPPED = ("actions/setup-python", "actions/setup-go", "actions/cache")
# the cheap pr.yml jobs that run here, and required, fed by them
CHEAP_JOBS = ("workflows", "kyverno", "manifests")
ACT_TIMEOUT = 1200
# 46 s warm here, 727 s once under load from other builds (2 shared cores; the three jobs run
# side by side): with the image and pipeline tests in the slow-tests job, not in checks
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class ActRun:
    """One act run: exit code, the job results act reported, and its whole log."""

    returncode: int
    results: dict[str, str]
    log: str
    seconds: float


def copy_checkout(dest: Path) -> Path:
    """The tracked (and new, not ignored) files in a fresh git repository; nothing beside it."""
    listed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
        capture_output=True, check=True,
    ).stdout.split(b"\0")  # fmt: skip
    repo = dest / "checkout"
    for raw in filter(None, listed):
        source = REPO_ROOT / raw.decode()
        if source.is_file():
            target = repo / raw.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git = ["git", "-C", str(repo), "-c", "user.name=act", "-c", "user.email=act@localhost"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "copy of the repository"], check=True)
    return repo


def local_repositories() -> list[str]:
    """`--local-repository OWNER/REPO@SHA=DIR` for each mapped action, SHAs from the pin list."""
    pins = load_pin_list(PINS_FILE)
    used = {
        uses
        for path in [*REPO_ROOT.glob(".github/workflows/*.yml"),
                     *REPO_ROOT.glob(".github/actions/*/action.yml")]
        for uses in re.findall(r"uses:\s*([^\s#]+)", path.read_text())
    }  # fmt: skip
    args: list[str] = []
    for key, pin in sorted(pins.items()):
        if pin.uses in MAPPED and key in used:
            args += ["--local-repository", f"{key}={STAND_INS / pin.uses.split('/')[1]}"]
    assert len(args) == 2 * len(MAPPED), f"every mapped action is pinned and used: {args}"
    return args


def cheap_pr_workflow(repo: Path, dest: Path, jobs: tuple[str, ...] = CHEAP_JOBS) -> Path:
    """pr.yml with only the given jobs and `required`, each job's YAML unchanged, and
    `required.needs` cut to them (act runs every job a selected job needs)."""
    doc: dict[Any, Any] = yaml.safe_load((repo / ".github/workflows/pr.yml").read_text())
    doc["jobs"] = {k: v for k, v in doc["jobs"].items() if k in (*jobs, "required")}
    doc["jobs"]["required"]["needs"] = list(jobs)
    doc["on"] = doc.pop(True)
    path = dest / f"pr-{'-'.join(jobs)}.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_act(act: str, repo: Path, workflow: Path, job: str) -> ActRun:
    started = time.monotonic()
    result = subprocess.run(
        [act, "workflow_dispatch", "-W", str(workflow), "-j", job,
         "-P", "ubuntu-24.04=-self-hosted", "--action-offline-mode", *local_repositories()],
        cwd=repo, capture_output=True, text=True, check=False, timeout=ACT_TIMEOUT,
    )  # fmt: skip
    log = result.stdout + result.stderr
    found = re.findall(r"\[[^/\]]+/([^\]]+)\] 🏁  Job (succeeded|failed)", log)
    results = {name.strip(): outcome for name, outcome in found}  # act pads the job names
    return ActRun(result.returncode, results, log, time.monotonic() - started)


@pytest.fixture(scope="module")
def cheap_run(tmp_path_factory: pytest.TempPathFactory) -> ActRun:
    act = tool_path("act")
    root = tmp_path_factory.mktemp("act")
    repo = copy_checkout(root)
    assert not (root / "shared").exists()
    return run_act(act, repo, cheap_pr_workflow(repo, root), "required")


def test_the_cheap_pr_jobs_and_required_pass_through_act(cheap_run: ActRun) -> None:
    assert cheap_run.returncode == 0, cheap_run.log[-6000:]
    assert cheap_run.results == {
        "actionlint and zizmor": "succeeded",
        "kyverno test": "succeeded",
        "manifest validation": "succeeded",
        "required": "succeeded",
    }
    assert cheap_run.seconds < ACT_TIMEOUT


def test_each_job_ran_its_real_steps(cheap_run: ActRun) -> None:
    log = cheap_run.log
    assert "| workflow-policy: 4 files, 0 findings" in log
    assert "| kyverno-test: 23 policies proven, 0 not (795 results)" in log
    # one tool cache per job's tool set (the stand-in prints the key the workflow computed)
    for tools in ("actionlint", "kyverno", "kustomize kubeconform kube-linter istioctl"):
        assert f"| cache stand-in: miss for key microshop-tools-Linux-[{tools}]-" in log
    # required read toJSON(needs) and found every job it needs successful
    assert re.search(r"\[pr/required *\] +✅  Success - Main Fail unless every job succeeded", log)


def test_required_fails_and_names_the_job_when_a_needed_job_fails(
    tmp_path: Path,
) -> None:
    # plant an invented action SHA (tag comment kept) in the copy: the workflows job must fail
    repo = copy_checkout(tmp_path)
    kind = repo / ".github" / "workflows" / "kind-e2e.yml"
    kind.write_text(
        kind.read_text().replace(
            "Azure/setup-kubectl@829323503d1be3d00ca8346e5391ca0b07a9ab0d",
            "Azure/setup-kubectl@0123456789abcdef0123456789abcdef01234567",
        )
    )
    run = run_act(
        tool_path("act"), repo, cheap_pr_workflow(repo, tmp_path, ("workflows",)), "required"
    )
    assert run.returncode == 1
    assert run.results == {"actionlint and zizmor": "failed", "required": "failed"}
    assert (
        "Azure/setup-kubectl@0123456789abcdef0123456789abcdef01234567: not in"
        " .github/actions-pins.yaml" in run.log
    )
    # required still ran (if: always()) and read the failure from toJSON(needs)
    assert "require-jobs: workflows: failure" in run.log
    assert "require-jobs: 0/1 jobs succeeded" in run.log
