"""The workflow files themselves, run here by a real workflow runner (act), steps on this machine.

act (scripts/tool act) runs jobs of pr.yml and release.yml from their YAML with the self-hosted
platform (`-P ubuntu-24.04=-self-hosted`: no runner image), on a copy of the tracked files with
no ../shared beside it, the hosted actions mapped to the local stand-ins in
tests/workflows/act-actions (artifacts through act's own artifact server), and HTTPS cut the same
way here and on GitHub. Asserted, each with the exact set of jobs and their results: pr.yml's
cheap jobs and `required` (and `required` failing on a failed job), pr.yml's `gates` (failing
offline, its `if: !cancelled()` steps still reporting), release.yml's `build` stopping at its
Trivy gate, and on an empty Trivy DB `build` and `push` handing their outputs and artifacts to
the `sign` matrix, which signs and attests keyless against the local Sigstore (Fulcio, Rekor:
microshop sigstore; the job's OIDC token from the token service stand-in), and to `verify`; and
pr.yml's `images` job passing whole on an empty Trivy DB. act itself is built with one fix
(microshop_ci/gha/act_output.py: a failing step's last output lines reach the log), proven by 40
failing steps. What cannot run here, and why, is in docs/ci.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from microshop_ci.gha.pins import uses_lines
from microshop_ci.sign.signer import private_sigstore
from microshop_ci.sigstore.jobs import Job, private_sigstore_env
from microshop_ci.sigstore.settings import settings as sigstore_settings
from tests.conftest import REPO_ROOT, tool_path
from tests.local_sigstore import running_stack
from tests.workflows.trivy_db import push_empty_db

STAND_INS = REPO_ROOT / "tests" / "workflows" / "act-actions"
# each hosted action the workflows use -> the stand-in folder mapped to its repository (an action
# in a subfolder, github/codeql-action/upload-sarif, keeps its subfolder inside the stand-in)
MAPPED = {
    "actions/setup-python": "setup-python",
    "actions/setup-go": "setup-go",
    "actions/cache/restore": "cache",
    "actions/cache/save": "cache",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "docker/login-action": "login-action",
    "github/codeql-action/upload-sarif": "codeql-action",
    "softprops/action-gh-release": "action-gh-release",
}
# the cheap pr.yml jobs that run here, and required, fed by them
CHEAP_JOBS = ("workflows", "kyverno", "manifests")
ACT_TIMEOUT = 1200
# 46 s warm here, 727 s once under load from other builds (2 shared cores; the three jobs run
# side by side): with the image and pipeline tests in the slow-tests job, not in checks. Docker:
# the self-hosted jobs build images and bind the pipeline's ports on this machine.
pytestmark = [pytest.mark.slow, pytest.mark.docker]


@dataclass(frozen=True)
class ActRun:
    """One act run: exit code, the job results act reported, and its whole log."""

    returncode: int
    results: dict[str, str]
    log: str
    seconds: float
    artifacts: Path
    # the loopback registries a job started and left running when act ended (stopped then)
    left_running: tuple[int, ...] = ()

    def artifact(self, name: str) -> list[str]:
        """The file names in one uploaded artifact (act's server keeps run 1's zips)."""
        with zipfile.ZipFile(self.artifacts / "1" / name / f"{name}.zip") as archive:
            return sorted(archive.namelist())


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


def local_repositories(repo: Path) -> list[str]:
    """`--local-repository OWNER/REPO@SHA=DIR` for each hosted action repo's workflows and actions
    use that has a stand-in, at the SHA written there: whether that SHA may be used is the pin
    rule's verdict (microshop_ci.gha.pins.PinRule, in the workflows job), not this mapping's."""
    used = {
        line.uses
        for path in [*repo.glob(".github/workflows/*.yml"),
                     *repo.glob(".github/actions/*/action.yml")]
        for line in uses_lines(path.read_text())
        if line.hosted
    }  # fmt: skip
    mapped = set()
    for uses in used:
        action, _, sha = uses.partition("@")
        if action in MAPPED:
            repository = "/".join(action.split("/")[:2])
            mapped.add(f"{repository}@{sha}={STAND_INS / MAPPED[action]}")
    return [arg for entry in sorted(mapped) for arg in ("--local-repository", entry)]


def github_access(environ: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """On GitHub with a token (the slow-tests job passes its read-only one): the act run's
    workflows job gets it as `github.token` and may reach the API through the cut network, so
    the pin rule there asks about an unlisted SHA as lint-workflows does on GitHub. Elsewhere:
    nothing (offline, the pin list only)."""
    if environ.get("GITHUB_ACTIONS") != "true" or not environ.get("GITHUB_TOKEN"):
        return {}, ()
    api_host = urllib.parse.urlsplit(environ.get("GITHUB_API_URL", "https://api.github.com"))
    return {"NO_PROXY": f"127.0.0.1,localhost,{api_host.hostname}"}, ("GITHUB_TOKEN",)


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


def free_port() -> int:
    """A loopback port nobody listens on now (act's artifact server; a dead proxy)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def loopback_registry(data: Path) -> Iterator[str]:
    """A registry of the test's own on a free loopback port, storage in data; yields HOST:PORT."""
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "MICROSHOP_REGISTRY": address, "MICROSHOP_REGISTRY_DATA": str(data)}
    registry = [str(REPO_ROOT / "scripts" / "registry")]
    subprocess.run([*registry, "up"], env=env, check=True, timeout=120)
    try:
        yield address
    finally:
        subprocess.run([*registry, "down"], env=env, check=True, timeout=120)


@contextlib.contextmanager
def default_registry_address_free() -> Iterator[None]:
    """127.0.0.1:5000 (scripts/registry's default, where the workflows' jobs start their loopback
    registry) free for act's jobs. A registry this checkout's scripts/registry started (another
    test's session fixture) is stopped for the run and started again after, its data kept, so a
    job never finds one answering and reuses it instead of starting and stopping its own; one
    started by anything else fails the test, naming the address."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROSHOP_REGISTRY")}
    registry = [str(REPO_ROOT / "scripts" / "registry")]
    answering = subprocess.run([*registry, "status"], env=env, check=False).returncode == 0
    if answering:
        stopped = subprocess.run(
            [*registry, "down"], env=env, capture_output=True, text=True, check=False, timeout=120
        )
        if "registry stopped" not in stopped.stderr:
            pytest.fail(f"127.0.0.1:5000 answers but not from this checkout: {stopped.stderr}")
    try:
        yield
    finally:
        if answering:
            subprocess.run([*registry, "up"], env=env, check=True, timeout=120)


def stop_started_registries(act_cache: Path) -> list[int]:
    """Stop the loopback registries that `scripts/registry up` started inside act's workspaces
    and a job left running (each job that starts one stops it: none is expected; the run records
    any, so that one left behind cannot answer the next job or test on its address).

    Found by their command line (`registry serve ACT_CACHE/.../config.yml`), not by their pid
    files: act removes a job's workspace, pid file included, when the job ends."""
    stopped = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process ended meanwhile
            continue
        if len(argv) > 2 and argv[1] == b"serve" and argv[2].startswith(bytes(act_cache)):
            pid = int(cmdline.parent.name)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                stopped.append(pid)
    return stopped


def run_act(
    act: str,
    repo: Path,
    workflow: Path,
    job: str,
    *,
    event: str = "workflow_dispatch",
    event_file: Path | None = None,
    extra_env: dict[str, str] | None = None,
    secrets: tuple[str, ...] = (),
    variables: dict[str, str] | None = None,
) -> ActRun:
    """act on one job (and every job it needs) in repo; its workspaces and artifacts beside repo.

    The network is cut the same way here and on GitHub (HTTPS through a proxy nobody serves,
    loopback exempt; uv from its cache), so the jobs that would reach the OSV API or Trivy's
    database fail alike."""
    started = time.monotonic()
    root = repo.parent
    (root / "artifacts" / "1").mkdir(parents=True, exist_ok=True)  # act lists run 1's folder
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    api_env, api_secrets = github_access(os.environ)
    no_proxy = api_env.get("NO_PROXY", "127.0.0.1,localhost")
    env = {
        "MICROSHOP_ACT_STANDINS": str(STAND_INS),
        "UV_OFFLINE": "1",
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
        "HTTPS_PROXY": dead_proxy,
        "https_proxy": dead_proxy,
        **(extra_env or {}),
    }
    if not any(s.split("=", 1)[0] == "GITHUB_TOKEN" for s in secrets):
        secrets = (*secrets, *api_secrets)
    event_args = ["-e", str(event_file)] if event_file else []
    with default_registry_address_free():
        try:
            result = subprocess.run(
                [act, event, *event_args, "-W", str(workflow), "-j", job,
                 "-P", "ubuntu-24.04=-self-hosted", "--action-offline-mode",
                 *local_repositories(repo),
                 "--action-cache-path", str(root / "act-cache"),
                 "--artifact-server-path", str(root / "artifacts"),
                 "--artifact-server-addr", "127.0.0.1", "--artifact-server-port", str(free_port()),
                 *[arg for key, value in env.items() for arg in ("--env", f"{key}={value}")],
                 *[arg for secret in secrets for arg in ("--secret", secret)],
                 *[arg for key, value in (variables or {}).items()
                   for arg in ("--var", f"{key}={value}")]],
                cwd=repo, capture_output=True, text=True, check=False, timeout=ACT_TIMEOUT,
            )  # fmt: skip
        finally:
            left_running = stop_started_registries(root / "act-cache")
    log = result.stdout + result.stderr
    found = re.findall(r"\[[^/\]]+/([^\]]+)\] 🏁  Job (succeeded|failed)", log)
    results = {name.strip(): outcome for name, outcome in found}  # act pads the job names
    seconds = time.monotonic() - started
    return ActRun(result.returncode, results, log, seconds, root / "artifacts", tuple(left_running))


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
    assert "| workflow-policy: 5 files, 0 findings" in log
    assert "| kyverno-test: 23 policies proven, 0 not (795 results)" in log
    # one tool cache per job's tool set (the stand-in prints the key the workflow computed)
    for tools in ("actionlint", "kyverno", "kustomize kubeconform kube-linter istioctl"):
        assert f"| cache stand-in: miss for key microshop-tools-Linux-[{tools}]-" in log
        # and saved right after the tools are built, under the same key
        assert f"| cache stand-in: nothing saved for key microshop-tools-Linux-[{tools}]-" in log
    # required read toJSON(needs) and found every job it needs successful
    assert re.search(r"\[pr/required *\] +✅  Success - Main Fail unless every job succeeded", log)


CHECKOUT_SHA = "3d3c42e5aac5ba805825da76410c181273ba90b1"  # v7.0.1, in the pin list
PLANTED = "actions/checkout@0123456789abcdef0123456789abcdef01234567"


def test_required_fails_and_names_the_job_when_a_needed_job_fails(
    tmp_path: Path,
) -> None:
    # plant an invented action SHA (tag comment kept) in the copy: the workflows job must fail,
    # offline (not in the pin list) and on GitHub alike (the API says the tag is another commit)
    repo = copy_checkout(tmp_path)
    kind = repo / ".github" / "workflows" / "kind-e2e.yml"
    kind.write_text(kind.read_text().replace(f"actions/checkout@{CHECKOUT_SHA}", PLANTED))
    run = run_act(
        tool_path("act"), repo, cheap_pr_workflow(repo, tmp_path, ("workflows",)), "required"
    )
    assert run.returncode == 1
    assert run.results == {"actionlint and zizmor": "failed", "required": "failed"}
    assert f"[known-pin] {PLANTED}: " in run.log
    # required still ran (if: always()) and read the failure from toJSON(needs)
    assert "require-jobs: workflows: failure" in run.log, run.log[-4000:]
    assert "require-jobs: 0/1 jobs succeeded" in run.log


NOISY_LINES = 2000
NOISY_STEPS = 40
# steps that print fast and fail: each one's output, written in one go just before it exits, is
# still in the pty when act sees the exit. act 0.2.89 as upstream builds it then drops what it had
# not read yet, in a share of the steps that grows with the machine's load (3 of 20 at a load of 7:
# hence 40 steps, continue-on-error so each one runs); scripts/tool builds act with the fix.
NOISY_SCRIPT = """import sys
step = sys.argv[1]
sys.stdout.write("".join(f"noisy {step} line {i}\\n" for i in range(1, LINES + 1)))
sys.stdout.flush()
print(f"noisy {step} end: exit 3", file=sys.stderr)
sys.exit(3)
""".replace("LINES", str(NOISY_LINES))


def noisy_repository(dest: Path) -> tuple[Path, Path]:
    """A repository whose one workflow has one job of failing, talkative steps."""
    repo = dest / "noisy"
    workflow = repo / ".github" / "workflows" / "noisy.yml"
    workflow.parent.mkdir(parents=True)
    steps = [
        {"name": f"print and fail {step}", "continue-on-error": True,
         "run": f"python3 - {step} <<'PY'\n{NOISY_SCRIPT}PY\n"}
        for step in range(1, NOISY_STEPS + 1)
    ]  # fmt: skip
    doc = {
        "name": "noisy",
        "on": "workflow_dispatch",
        "permissions": {},
        "jobs": {"noisy": {"runs-on": "ubuntu-24.04", "timeout-minutes": 5, "steps": steps}},
    }
    workflow.write_text(yaml.safe_dump(doc, sort_keys=False))
    git = ["git", "-C", str(repo), "-c", "user.name=act", "-c", "user.email=act@localhost"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "noisy"], check=True)
    return repo, workflow


def lost_output(log: str) -> dict[int, int]:
    """Per noisy step, how many of its lines (end line included) are missing from act's log."""
    seen: dict[int, set[str]] = {step: set() for step in range(1, NOISY_STEPS + 1)}
    for step, what in re.findall(r"\| noisy (\d+) (line \d+|end: exit 3)\r?$", log, re.MULTILINE):
        seen[int(step)].add(what)
    lost = {step: NOISY_LINES + 1 - len(found) for step, found in seen.items()}
    return {step: count for step, count in lost.items() if count}


def test_failing_steps_keep_their_last_output_lines_in_acts_log(tmp_path: Path) -> None:
    # the cause of the `require-jobs` line once missing from the `required` test's log
    repo, workflow = noisy_repository(tmp_path)
    run = run_act(tool_path("act"), repo, workflow, "noisy")
    assert run.results == {"noisy": "succeeded"}  # every step failed, continue-on-error
    assert run.log.count("❌  Failure - Main print and fail") == NOISY_STEPS
    assert lost_output(run.log) == {}


# --- pr.yml's gates job: fails closed offline, and its `if: !cancelled()` steps still report ------

GATE_REPORTS = [
    "actionlint.sarif", "bandit.sarif", "manifests.sarif", "pip-audit.sarif",
    "runtime-rules.sarif", "summary.json", "summary.md", "trivy-config.sarif",
    "trivy-secret.sarif", "zizmor.sarif",
]  # fmt: skip


@pytest.fixture(scope="module")
def gates_run(tmp_path_factory: pytest.TempPathFactory) -> ActRun:
    """The real pr.yml's `gates` job, as a manual (workflow_dispatch) run."""
    root = tmp_path_factory.mktemp("act-gates")
    repo = copy_checkout(root)
    return run_act(tool_path("act"), repo, repo / ".github" / "workflows" / "pr.yml", "gates")


def test_gates_job_fails_on_the_unreachable_osv_service(gates_run: ActRun) -> None:
    assert gates_run.returncode == 1
    assert gates_run.results == {"security gates": "failed"}
    log = gates_run.log
    assert "| gates: pip-audit error" in log  # --online: api.osv.dev cannot be reached
    for gate in (
        "bandit", "trivy-config", "trivy-secret", "actionlint", "zizmor", "manifests",
        "runtime-rules",
    ):  # fmt: skip
        assert f"| gates: {gate} passed" in log
    assert "| gates: trivy-vuln skipped" in log  # no image in this job
    assert re.search(r"❌  Failure - Main Bandit, pip-audit, Trivy config and secret", log)


def test_gates_job_still_summarises_uploads_sarif_and_keeps_its_reports(gates_run: ActRun) -> None:
    log = gates_run.log
    # if: ${{ !cancelled() }} after the failed step: the summary is written
    assert re.search(r"✅  Success - Main Write the gate summary to the job summary", log)
    assert "⚙  Summary - ## Security gates: FAILED" in log
    # upload-sarif ran (workflow_dispatch is not a fork's pull request) with its category, one
    # SARIF file per gate that ran (the skipped trivy-vuln wrote none), no tool twice
    assert (
        "| upload-sarif stand-in: category gates: 8 files, tools actionlint, bandit,"
        " microshop_ci.runtime (runtime-rules), pip-audit, trivy (trivy-config),"
        " trivy (trivy-secret), validate-manifests (manifests), zizmor,"
    ) in log
    assert re.search(r"✅  Success - Main Upload SARIF to code scanning", log)
    # the reports went through act's artifact server, as the v4+ artifact actions send them
    assert "| upload-artifact stand-in: gate-reports: 10 files, sha256:" in log
    assert gates_run.artifact("gate-reports") == GATE_REPORTS


# --- release.yml's build job: registry, no-cache build, and the Trivy gate before any push -------


def release_workflow(repo: Path) -> Path:
    """release.yml of the checkout copy: the real file, as act reads it unchanged."""
    return repo / ".github" / "workflows" / "release.yml"


@pytest.fixture(scope="module")
def release_build_run(tmp_path_factory: pytest.TempPathFactory) -> ActRun:
    """release.yml's `build` job on a push of tag v1.2.3 to microshop/microshop."""
    root = tmp_path_factory.mktemp("act-release")
    repo = copy_checkout(root)
    remote = "https://github.com/microshop/microshop.git"  # github.repository_owner (never fetched)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", remote], check=True)
    event = root / "push-tag.json"
    event.write_text(json.dumps({"ref": "refs/tags/v1.2.3", "repository": {
        "full_name": "microshop/microshop", "owner": {"login": "microshop"}}}))  # fmt: skip
    workflow = release_workflow(repo)
    return run_act(tool_path("act"), repo, workflow, "build", event="push", event_file=event)


def test_release_build_starts_its_loopback_registry_and_builds_without_cache(
    release_build_run: ActRun,
) -> None:
    log = release_build_run.log
    # the step's own MICROSHOP_REGISTRY="" (not the workflow's ghcr.io/microshop): loopback
    assert re.search(r"\| \[[0-9:]+\] registry (up|answers) on 127\.0\.0\.1:5000", log)
    assert "starts only a loopback registry" not in log
    for service in ("api-service", "client-service"):
        assert re.search(
            rf"\| \[[0-9:]+\] {service}: pushed 127\.0\.0\.1:5000/{service}@sha256:", log
        )
    # the path as the step gave it, read from where it stands (the job's workspace)
    assert re.search(r"\| \[[0-9:]+\] wrote /\S+/reports/gated-images\.json", log)
    # the images file's image_id is the normalizer's config digest; on Docker's classic image
    # store (not the containerd one) the engine computes the same digest from the loaded image
    (images_file,) = (release_build_run.artifacts.parent / "act-cache").glob(
        "*/hostexecutor/reports/gated-images.json"
    )
    images = json.loads(images_file.read_text())
    assert sorted(images) == ["api-service", "client-service"]
    driver = subprocess.run(
        ["docker", "info", "--format", "{{json .DriverStatus}}"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    for entry in images.values():
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", entry["image_id"])
        if "containerd.snapshotter" not in driver:
            assert entry["engine_image_id"] == entry["image_id"]
    assert re.search(
        r"✅  Success - Main Build every service image hermetically, without any cache", log
    )


def test_release_build_stops_at_the_trivy_gate_before_anything_leaves_the_runner(
    release_build_run: ActRun,
) -> None:
    assert release_build_run.returncode == 1
    assert release_build_run.results == {"build, Trivy gate (nothing leaves the runner)": "failed"}
    log = release_build_run.log
    assert "| gates: trivy-vuln error" in log  # the DB cannot be had: fail closed
    assert re.search(r"❌  Failure - Main Trivy image scan with failing thresholds", log)
    assert re.search(r"✅  Success - Main Write the image scan summary to the job summary", log)
    # the registry stopped by the job itself (if: always()), after the failed gate
    assert re.search(r"✅  Success - Main Stop the loopback registry \(its storage", log)
    assert re.search(r"\| \[[0-9:]+\] registry stopped \(pid [0-9]+\)", log)
    assert release_build_run.left_running == ()
    # nothing after the gate ran: no tool archive, no artifact (so no push job could copy)
    for step in ("The tools the later jobs need", "actions/upload-artifact"):
        assert f"⭐ Run Main {step}" not in log
    for artifact in ("gated-images", "build-tools", "images"):
        assert not (release_build_run.artifacts / "1" / artifact).exists()


# --- release.yml past the gate: the sign matrix keyless on the local Sigstore, then verify ------

RELEASE_REF = "refs/tags/v1.2.3"
RELEASE_IDENTITY = (
    f"https://github.com/microshop/microshop/.github/workflows/release.yml@{RELEASE_REF}"
)


@dataclass(frozen=True)
class ReleaseRun:
    """The act run of release.yml up to `verify`, what the release registry holds, and what the
    local Sigstore's log and a verification by identity pattern say afterwards."""

    act: ActRun
    registry: str
    tags: dict[str, list[str]]
    rekor_entries: int
    verified_by_pattern: dict[str, subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def release_run(tmp_path_factory: pytest.TempPathFactory) -> ReleaseRun:
    """`-j verify` (so build, push and sign first) with an empty Trivy DB, a loopback release
    registry and the local Sigstore.

    The test's own registry serves Trivy the empty database (tests/workflows/trivy_db.py: the
    gate's real scan runs and finds nothing) and stands in for GHCR: act's `--env` overrides the
    workflow's `MICROSHOP_REGISTRY` (the steps that set their own keep it), as a fork could. What
    differs from GitHub is what the workflow takes from outside: the repository variables naming a
    private Sigstore (the local one), the job's OIDC token (the token service stand-in, through
    the two variables a runner sets) and GITHUB_WORKFLOW_REF, which GitHub's runner sets and act
    does not."""
    root = tmp_path_factory.mktemp("act-release-sign")
    repo = copy_checkout(root)
    remote = "https://github.com/microshop/microshop.git"
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", remote], check=True)
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                         text=True, check=True).stdout.strip()  # fmt: skip
    event = root / "push-tag.json"
    event.write_text(json.dumps({"ref": RELEASE_REF, "repository": {
        "full_name": "microshop/microshop", "owner": {"login": "microshop"}}}))  # fmt: skip
    job = Job("microshop/microshop", "release.yml", RELEASE_REF, sha)
    with running_stack(root / "sigstore") as sigstore, \
            loopback_registry(root / "release-registry") as address:  # fmt: skip
        settings = sigstore_settings(sigstore)
        _, verifying = private_sigstore(private_sigstore_env(settings))
        run = run_act(
            tool_path("act"), repo, release_workflow(repo), "verify",
            event="push", event_file=event, secrets=("GITHUB_TOKEN=act-stand-in-token",),
            extra_env={"TRIVY_DB_REPOSITORY": push_empty_db(address),
                       "TRIVY_CACHE_DIR": str(root / "trivy-cache"),
                       "MICROSHOP_REGISTRY": f"{address}/microshop",
                       "GITHUB_WORKFLOW_REF":
                           f"microshop/microshop/.github/workflows/release.yml@{RELEASE_REF}",
                       **job.token_env(settings, ttl=ACT_TIMEOUT)},
            variables={"SIGSTORE_OIDC_ISSUER": sigstore["SIGSTORE_OIDC_ISSUER"],
                       "SIGSTORE_FULCIO_URL": sigstore["FULCIO_URL"],
                       "SIGSTORE_REKOR_URL": sigstore["REKOR_URL"],
                       "SIGSTORE_TRUSTED_ROOT": sigstore["SIGSTORE_TRUSTED_ROOT"]},
        )  # fmt: skip
        tags, verified = {}, {}
        for service in ("api-service", "client-service"):
            url = f"http://{address}/v2/microshop/{service}/tags/list"
            with urllib.request.urlopen(url, timeout=30) as reply:  # noqa: S310 (loopback)
                tags[service] = sorted(json.loads(reply.read())["tags"])
            verified[service] = subprocess.run(
                [tool_path("cosign"), "verify", f"{address}/microshop/{service}:{tags[service][0]}",
                 "--certificate-identity-regexp",
                 r"^https://github\.com/microshop/microshop/\.github/workflows/release\.yml@refs/tags/v",
                 "--certificate-oidc-issuer", settings.issuer_url, *verifying],
                capture_output=True, text=True, check=False, timeout=300,
            )  # fmt: skip
        with urllib.request.urlopen(f"{sigstore['REKOR_URL']}/api/v1/log", timeout=30) as reply:  # noqa: S310
            entries = int(json.loads(reply.read())["treeSize"])
    return ReleaseRun(run, address, tags, entries, verified)


def test_release_signs_keyless_attests_and_verifies_through_act(release_run: ReleaseRun) -> None:
    run, address = release_run.act, release_run.registry
    assert run.results == {
        "build, Trivy gate (nothing leaves the runner)": "succeeded",
        "copy the gated images to GHCR by digest (git-<sha>)": "succeeded",
        "sign and attest api-service-1": "succeeded",  # one matrix leg per service build output
        "sign and attest client-service-2": "succeeded",
        "verify api-service-1": "succeeded",
        "verify client-service-2": "succeeded",
    }, run.log[-4000:]
    assert run.returncode == 0
    log = run.log
    for leg, service in (("api-service-1", "api-service"), ("client-service-2", "client-service")):
        ref = rf"{re.escape(address)}/microshop/{service}@sha256:[0-9a-f]{{64}}"
        for kind in ("cyclonedx", "slsaprovenance1"):
            assert re.search(
                rf"\[release/sign and attest {leg} *\]   \| \[[0-9:]+\] {service}: cosign attest"
                rf" --type {kind} {ref}",
                log,
            )
        assert re.search(
            rf"\[release/sign and attest {leg} *\]   \| \[[0-9:]+\] {service}: verified the"
            rf" signature and every attestation of {ref}",
            log,
        )
        assert re.search(
            rf"\[release/verify {leg} *\]   \| \[verify-release\] the provenance names this"
            r" workflow, ref and commit",
            log,
        )
        # a version tag only after verification, by the tag job (not run here): git-<sha>, and
        # the signature and attestations beside the digest (cosign's legacy tags)
        git_tag, attestations, signature = release_run.tags[service]  # sorted
        assert re.fullmatch(r"git-[0-9a-f]{12}", git_tag)
        assert re.fullmatch(r"sha256-[0-9a-f]{64}\.sig", signature)
        assert attestations == signature.removesuffix(".sig") + ".att"
    # a signature and two attestations per image, each one entry in the local Rekor
    assert release_run.rekor_entries == 6
    assert run.left_running == ()


def test_release_build_hands_its_outputs_and_artifacts_to_the_later_jobs(
    release_run: ReleaseRun,
) -> None:
    run, address = release_run.act, release_run.registry
    log = run.log
    assert "| gates: trivy-vuln passed" in log  # the real scan, on the empty database
    assert "| login-action stand-in: nektos/act at ghcr.io (no login" in log
    # the push job: the build job's tools unpacked (nothing built), its registry's storage served
    # again, promote-images copied by digest under git-<sha12> only: no version tag before the
    # approval, the signatures and their verification (the tag job, after verify)
    assert re.search(
        r"\[release/copy the gated images[^\]]*\] +\| crane \S+ sha256:[0-9a-f]{64}", log
    )
    for service in ("api-service", "client-service"):
        assert re.search(
            rf"\| {service}: {re.escape(address)}/microshop/{service}@sha256:[0-9a-f]{{64}}"
            r" \(git-[0-9a-f]{12}\)",
            log,
        )
        assert re.fullmatch(r"git-[0-9a-f]{12}", release_run.tags[service][0])
    # build and push each stopped the loopback registry it started, before the next job began
    for job in ("build, Trivy gate", "copy the gated images"):
        assert re.search(
            rf"\[release/{job}[^\]]*\] +✅  Success - Main Stop the loopback registry", log
        )
    assert len(re.findall(r"\| \[[0-9:]+\] registry stopped \(pid [0-9]+\)", log)) == 2
    assert run.left_running == ()
    # the job output the matrix reads
    assert '⚙  ::set-output:: services=["api-service", "client-service"]' in log
    # the build job's artifacts: its tools, the gated images file and its registry's storage
    assert run.artifact("build-tools") == ["build-tools.tar"]
    gated = run.artifact("gated-images")
    assert gated[0] == "gated-images.json"
    assert all(name.startswith("gated-registry/storage/docker/registry/v2/") for name in gated[1:])
    # the images artifact: uploaded once by push, downloaded by each matrix leg
    assert run.artifact("images") == ["images.json"]
    with zipfile.ZipFile(run.artifacts / "1" / "images" / "images.zip") as archive:
        images = json.loads(archive.read("images.json"))
    assert {s: e["name"] for s, e in images.items()} == {
        "api-service": f"{address}/microshop/api-service",
        "client-service": f"{address}/microshop/client-service",
    }
    for leg in ("api-service-1", "client-service-2"):
        for artifact in ("build-tools", "images"):
            assert re.search(
                rf"\[release/sign and attest {leg} *\]   \| download-artifact stand-in: {artifact}"
                r" -> \S+/reports \(1 files\)",
                log,
            )
        # the tools come from the build job's archive, not from a build in the signing job
        assert re.search(rf"\[release/sign and attest {leg} *\]   \| cosign \S+ sha256:", log)
        assert not re.search(rf"\[release/sign and attest {leg} *\].*scripts/tool: building", log)


def test_a_released_image_verifies_by_identity_pattern_and_issuer(release_run: ReleaseRun) -> None:
    for service, verified in release_run.verified_by_pattern.items():
        assert verified.returncode == 0, (service, verified.stderr)
        [signature] = json.loads(verified.stdout)
        assert signature["optional"]["Subject"] == RELEASE_IDENTITY


def test_gates_job_of_a_forks_pull_request_keeps_its_reports_but_uploads_no_sarif(
    tmp_path: Path,
) -> None:
    # a fork's token cannot write security events: the upload's `if:` must skip it
    repo = copy_checkout(tmp_path)
    remote = "https://github.com/microshop/microshop.git"  # github.repository (never fetched)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", remote], check=True)
    event = tmp_path / "fork-pull-request.json"
    event.write_text(json.dumps({
        "number": 7, "repository": {"full_name": "microshop/microshop"},
        "pull_request": {"number": 7, "head": {"ref": "patch", "repo": {
            "full_name": "stranger/microshop"}}, "base": {"ref": "main", "repo": {
            "full_name": "microshop/microshop"}}},
    }))  # fmt: skip
    run = run_act(
        tool_path("act"), repo, repo / ".github" / "workflows" / "pr.yml", "gates",
        event="pull_request", event_file=event,
    )  # fmt: skip
    assert run.results == {"security gates": "failed"}  # pip-audit, as in the manual run
    assert re.search(r"✅  Success - Main Write the gate summary to the job summary", run.log)
    assert "Run Main Upload SARIF to code scanning" not in run.log
    assert "upload-sarif stand-in" not in run.log
    assert run.artifact("gate-reports") == GATE_REPORTS


# --- pr.yml's images job: build, scan, SBOM, sign, admission, all on this machine ----------------

IMAGES_JOB = "images, scan, SBOM, signature, admission"
IMAGES_STEPS = (
    "Start the run's own registry on loopback (nothing leaves the runner)",
    "Build every service image hermetically and push it by digest",
    "Trivy image scan with failing thresholds",
    "SBOM, signature with a key generated for this run, verification",
    "The pushed images through the Kyverno policies",
    "Stop the loopback registry",
    "Write the image scan summary to the job summary",
)


@pytest.fixture(scope="module")
def images_run(tmp_path_factory: pytest.TempPathFactory) -> ActRun:
    """pr.yml's `images` job as it is: its own registry on 127.0.0.1:5000 (the one address the
    policies admit besides GHCR), and a loopback registry of this test's serving Trivy an empty
    database."""
    root = tmp_path_factory.mktemp("act-images")
    repo = copy_checkout(root)
    with loopback_registry(root / "trivy-db-registry") as address:
        return run_act(
            tool_path("act"), repo, repo / ".github" / "workflows" / "pr.yml", "images",
            extra_env={"TRIVY_DB_REPOSITORY": push_empty_db(address),
                       "TRIVY_CACHE_DIR": str(root / "trivy-cache")},
        )  # fmt: skip


def test_the_images_job_builds_scans_signs_and_admits_through_act(images_run: ActRun) -> None:
    run = images_run
    assert run.returncode == 0, run.log[-6000:]
    assert run.results == {IMAGES_JOB: "succeeded"}
    for step in IMAGES_STEPS:
        assert re.search(rf"✅  Success - Main {re.escape(step)}", run.log), step
    for service in ("api-service", "client-service"):
        assert re.search(
            rf"\| \[[0-9:]+\] {service}: pushed 127\.0\.0\.1:5000/{service}@sha256:", run.log
        )
    assert "| gates: trivy-vuln passed" in run.log  # the real scan, on the empty database
    assert "| upload-sarif stand-in: category image-gates" in run.log
    assert run.left_running == ()  # the job stopped its registry
    files = run.artifact("sboms-and-image-reports")
    assert "images.json" in files
    assert "admission.json" in files
    assert any(name.startswith("supply-chain/") for name in files)
    assert any(name.startswith("image-gates/") for name in files)
