"""The workflows' hardening, asserted on the YAML: token scopes, pinned downloads, release order."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from microshop_ci.commands import BY_NAME
from tests.conftest import REPO_ROOT
from tests.scripts.bootstrap.test_stdlib_only import outside_stdlib

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
    (cache,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache/restore@")]
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
    assert runs_of(jobs["checks"]) == [
        "scripts/mongodb-replset up",
        'scripts/test -m "not slow and not docker"',
    ]
    assert runs_of(jobs["slow-tests"]) == ['scripts/test --no-cov -m "slow or docker"']
    assert "slow-tests" in jobs["required"]["needs"]


# the release gates before it pushes, builds without cache, only on vX.Y.Z


def release_build_runs() -> list[str]:
    return runs_of(load(".github/workflows/release.yml")["jobs"]["build"])


def test_release_triggers_only_on_semver_tags() -> None:
    assert load(".github/workflows/release.yml")[True] == {
        "push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}
    }


def test_release_scans_before_anything_reaches_ghcr() -> None:
    jobs = load(".github/workflows/release.yml")["jobs"]
    build = jobs["build"]
    assert build["permissions"] == {"contents": "read"}  # nothing can leave the runner
    steps = steps_of(build)
    order = [str(s.get("run") or s.get("uses")) for s in steps]
    registry = order.index("scripts/registry up")
    built = next(i for i, s in enumerate(order) if s.startswith("scripts/build-images"))
    scan = next(i for i, s in enumerate(order) if s.startswith("scripts/scan-images"))
    assert registry < built < scan
    # the build pushes to the loopback registry, never to GHCR
    assert steps[built]["env"] == {"MICROSHOP_REGISTRY": ""}
    assert steps[registry]["env"] == {
        "MICROSHOP_REGISTRY": "",
        "MICROSHOP_REGISTRY_DATA": "reports/gated-registry",
    }
    assert not any(s.startswith(("docker/login-action@", "scripts/promote")) for s in order)
    # the push job copies from that same storage, after the build job (and so the gate) passed
    assert jobs["push"]["needs"] == "build"
    push_order = [str(s.get("run") or s.get("uses")) for s in steps_of(jobs["push"])]
    assert push_order.index("scripts/registry up") < push_order.index(
        "scripts/promote-images --images reports/gated-images.json --out reports/images.json"
    )


def test_release_builds_without_cache() -> None:
    runs = release_build_runs()
    (build,) = [r for r in runs if r.startswith("scripts/build-images")]
    assert "--no-cache" in build.split()


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


# the test jobs build every tool before pytest, and the tool cache is saved as soon as it is built


def test_the_test_jobs_build_every_pinned_tool_in_their_set_up() -> None:
    jobs = load(".github/workflows/pr.yml")["jobs"]
    for name in ("checks", "slow-tests"):
        (setup,) = [
            s for s in steps_of(jobs[name]) if s.get("uses") == "./.github/actions/setup-tools"
        ]
        assert setup["with"] == {"tools": "all", "cache": "true"}, name
        order = [str(s.get("uses") or s.get("run")) for s in steps_of(jobs[name])]
        assert order.index("./.github/actions/setup-tools") < next(
            i for i, s in enumerate(order) if s.startswith("scripts/test")
        )


def test_the_tool_cache_is_saved_right_after_the_build_not_at_the_end_of_the_job() -> None:
    steps = load(".github/actions/setup-tools/action.yml")["runs"]["steps"]
    order = [str(s.get("uses") or s.get("run")).split("@")[0] for s in steps]
    assert order == [
        "actions/setup-python",
        "actions/setup-go",
        "actions/cache/restore",
        "scripts/setup --no-docker --no-browser",
        "scripts/ensure-tools $TOOLS",
        "actions/cache/save",
    ]
    restore, save = steps[2], steps[5]
    assert restore["id"] == "restore"
    assert save["if"] == "inputs.cache == 'true' && steps.restore.outputs.cache-hit != 'true'"
    assert save["with"] == {
        "path": restore["with"]["path"],
        "key": "${{ steps.restore.outputs.cache-primary-key }}",
    }
    # no step of the whole tree saves a cache only when the job ends (actions/cache's post step)
    for path in [*WORKFLOWS.glob("*.yml"), SETUP_ACTION]:
        assert "actions/cache@" not in path.read_text(), path.name


# code scanning on private repositories


def test_every_job_that_uploads_sarif_may_write_security_events_and_read_actions() -> None:
    uploading = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for name, job in load(f".github/workflows/{path.name}")["jobs"].items():
            if any("codeql-action/upload-sarif@" in str(s.get("uses")) for s in steps_of(job)):
                uploading.append(f"{path.name}:{name}")
                assert job["permissions"]["security-events"] == "write", name
                assert job["permissions"]["actions"] == "read", name
    assert uploading == ["pr.yml:gates", "pr.yml:images", "rescan.yml:rescan"]


# concurrency: GitHub replaces a pending run of a group, so pushes get a group per commit


def test_pull_requests_cancel_superseded_runs_and_every_push_gets_its_own_group() -> None:
    concurrency = load(".github/workflows/pr.yml")["concurrency"]
    assert concurrency == {
        "group": "pr-${{ github.event.pull_request.number || github.sha }}",
        "cancel-in-progress": "${{ github.event_name == 'pull_request' }}",
    }


# Dependabot: every entry has something it can update


def lines_of(folder: Path, pattern: str, wanted: str) -> list[str]:
    """The lines of the files matching pattern in folder that match the regex wanted."""
    return [
        line
        for path in folder.glob(pattern)
        for line in path.read_text().splitlines()
        if re.search(wanted, line)
    ]


def dependabot_targets(ecosystem: str, directory: str) -> list[str]:
    """What Dependabot can update for one entry: pinned references it reads in that folder."""
    folders = sorted(REPO_ROOT.glob(directory.strip("/"))) if directory != "/" else [REPO_ROOT]
    wanted = {
        "github-actions": [(".github/workflows/*.yml", r"uses:\s*[\w.-]+/\S+@"),
                           ("action.yml", r"uses:\s*[\w.-]+/\S+@")],
        "uv": [("uv.lock", r"^version = ")],
        "pip": [("requirements*.txt", r"==")],
        "docker": [("Dockerfile*", r"^FROM\s+[^$\s]")],  # a literal image, not ${ARG}
        "docker-compose": [("compose*.y*ml", r"^\s*image:\s*[^$\s]")],
    }[ecosystem]  # fmt: skip
    return [line for folder in folders for pattern, regex in wanted
            for line in lines_of(folder, pattern, regex)]  # fmt: skip


def test_every_dependabot_entry_has_something_to_update() -> None:
    updates = load(".github/dependabot.yml")["updates"]
    empty = [
        f"{entry['package-ecosystem']} {directory}"
        for entry in updates
        for directory in entry.get("directories", [entry.get("directory")])
        if not dependabot_targets(entry["package-ecosystem"], directory)
    ]
    assert empty == []
    assert [entry["package-ecosystem"] for entry in updates] == ["github-actions", "uv", "pip"]


def test_the_base_images_dependabot_cannot_see_are_named_where_they_are_kept_current() -> None:
    # the Dockerfiles take their bases from build arguments, compose every image from a variable
    for service in ("api-service", "client-service"):
        froms = re.findall(
            r"^FROM\s+(\S+)", (REPO_ROOT / f"services/{service}/Dockerfile").read_text(), re.M
        )
        assert froms == ["${BUILDER_IMAGE}", "${BASE_IMAGE}"]
    readme = (WORKFLOWS / "README.md").read_text()
    assert "## How the base images are kept current" in readme


# the version tag moves only after approval, signing and verification, and never to another digest


def ancestors(jobs: dict[str, Any], name: str) -> set[str]:
    needs = jobs[name].get("needs", [])
    direct = {needs} if isinstance(needs, str) else set(needs)
    return direct.union(*(ancestors(jobs, n) for n in direct)) if direct else set()


def test_the_version_tag_is_written_last_by_one_step_after_the_approved_signing() -> None:
    jobs = load(".github/workflows/release.yml")["jobs"]
    writers = [
        (name, step)
        for name, job in jobs.items()
        for step in steps_of(job)
        if "RELEASE_TAG" in str(step.get("run")) or "ref_name" in str(step.get("env"))
    ]
    assert [(name, step["run"]) for name, step in writers] == [
        ("tag", 'scripts/tag-release --images reports/images.json --tag "$RELEASE_TAG"')
    ]
    assert writers[0][1]["env"] == {"RELEASE_TAG": "${{ github.ref_name }}"}
    assert ancestors(jobs, "tag") == {"build", "push", "sign", "verify"}
    assert jobs["sign"]["environment"] == "release"  # the reviewers' approval
    assert "tag" in ancestors(jobs, "publish")
    (promote,) = [r for r in runs_of(jobs["push"]) if r.startswith("scripts/promote-images")]
    assert "--release-tag" not in promote  # git-<sha> only
    assert "--tag" not in promote


# each token reaches only what needs it; the jobs that hold one build and install nothing


def launcher(script: str) -> tuple[str, str]:
    """(microshop_stdlib|microshop, module) of a scripts/ entry point: how it starts the program
    and the module of the subcommand it runs."""
    match = re.search(
        r"\b(microshop_stdlib|microshop) ([a-z][a-z0-9-]*)", (REPO_ROOT / script).read_text()
    )
    assert match, script
    return match.group(1), BY_NAME[match.group(2)].module


def test_the_verify_job_holds_no_github_token() -> None:
    """The provenance is a cosign attestation verified like the signature: no API call, no token."""
    job = load(".github/workflows/release.yml")["jobs"]["verify"]
    assert "GH_TOKEN" not in job["env"]
    assert [s for s in steps_of(job) if "GH_TOKEN" in (s.get("env") or {})] == []
    assert set(job["permissions"]) == {"contents", "packages"}


def test_jobs_that_can_push_or_sign_run_only_standard_library_scripts_and_build_nothing() -> None:
    privileged = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for name, job in load(f".github/workflows/{path.name}")["jobs"].items():
            granted = job["permissions"]
            if granted.get("id-token") != "write" and granted.get("packages") != "write":
                continue
            privileged.append(f"{path.name}:{name}")
            uses = [str(s.get("uses")).split("@")[0] for s in steps_of(job) if "uses" in s]
            assert "./.github/actions/setup-tools" not in uses, name
            assert "actions/setup-go" not in uses, name
            for run in runs_of(job):
                how, module = launcher(run.split()[0])
                assert how == "microshop_stdlib", f"{name}: {run}"
                assert outside_stdlib((module,)) == set(), f"{name}: {module}"
    assert privileged == ["release.yml:push", "release.yml:sign", "release.yml:tag"]


def test_the_build_job_packs_the_tools_every_later_job_unpacks() -> None:
    jobs = load(".github/workflows/release.yml")["jobs"]
    assert "scripts/tool-archive pack reports/build-tools.tar registry crane cosign syft" in (
        runs_of(jobs["build"])
    )
    for name in ("push", "sign", "verify", "tag"):
        assert "scripts/tool-archive unpack reports/build-tools.tar" in runs_of(jobs[name]), name
        downloads = [
            s["with"].get("name")
            for s in steps_of(jobs[name])
            if str(s.get("uses", "")).startswith("actions/download-artifact@")
        ]
        assert "build-tools" in downloads, name


# no tool binary is downloaded by a set-up action: kubectl is built from the pinned source


# The hosted actions the workflows may use: none of them fetches a tool binary (setup-python and
# setup-go install the interpreters the tools are built with; the rest move files or call APIs).
ALLOWED_ACTIONS = {
    "actions/checkout",
    "actions/setup-python",
    "actions/setup-go",
    "actions/cache/restore",
    "actions/cache/save",
    "actions/upload-artifact",
    "actions/download-artifact",
    "docker/login-action",
    "github/codeql-action/upload-sarif",
    "softprops/action-gh-release",
}


def test_no_set_up_action_downloads_a_tool_binary() -> None:
    used = {
        match.split("@")[0]
        for path in [*WORKFLOWS.glob("*.yml"), SETUP_ACTION]
        for match in re.findall(r"uses:\s*([\w.-]+/[^\s@]+@\S+)", path.read_text())
    }
    assert used == ALLOWED_ACTIONS


def test_kind_e2e_builds_kubectl_before_the_cluster_comes_up() -> None:
    runs = runs_of(load(".github/workflows/kind-e2e.yml")["jobs"]["e2e"])
    assert runs.index("scripts/build-kubectl") < runs.index("scripts/kind-up")


# kind-e2e: on main and daily too, its cluster builds cached, its time and disk in its summary


def kind_job() -> dict[str, Any]:
    job: dict[str, Any] = load(".github/workflows/kind-e2e.yml")["jobs"]["e2e"]
    return job


def test_kind_e2e_runs_on_pull_requests_main_and_a_daily_schedule() -> None:
    doc = load(".github/workflows/kind-e2e.yml")
    triggers = doc[True]
    assert sorted(triggers) == ["pull_request", "push", "schedule", "workflow_dispatch"]
    assert triggers["push"]["branches"] == ["main"]
    assert triggers["push"]["paths"] == triggers["pull_request"]["paths"]
    assert triggers["schedule"] == [{"cron": "23 4 * * *"}]
    assert doc["concurrency"] == {
        "group": "kind-e2e-${{ github.event.pull_request.number || github.sha }}",
        "cancel-in-progress": "${{ github.event_name == 'pull_request' }}",
    }


def test_kind_e2e_caches_its_cluster_builds_and_saves_them_before_the_tests() -> None:
    steps = steps_of(kind_job())
    order = [str(s.get("uses") or s.get("run")).split("@")[0] for s in steps]
    restore = order.index("actions/cache/restore")
    save = order.index("actions/cache/save")
    assert restore < order.index("scripts/build-kubectl") < order.index("scripts/kind-up")
    assert order.index("scripts/install-cluster-addons") < save
    assert save < next(i for i, s in enumerate(order) if s.startswith("scripts/e2e"))
    cached = steps[restore]["with"]
    assert cached["path"] == "~/.cache/microshop/cluster"
    assert "restore-keys" not in cached  # a binary built by other code is never restored
    assert cached["key"].startswith("microshop-cluster-${{ runner.os }}-${{ hashFiles(")
    for source in ("scripts/tool-versions.env", "scripts/microshop_ci/core/gobuild.py",
                   "scripts/microshop_ci/cluster/components.py"):  # fmt: skip
        assert f"'{source}'" in cached["key"]
    assert steps[save]["if"] == "steps.cluster-cache.outputs.cache-hit != 'true'"
    assert steps[save]["with"] == {
        "path": "~/.cache/microshop/cluster",
        "key": "${{ steps.cluster-cache.outputs.cache-primary-key }}",
    }
    assert steps[restore]["id"] == "cluster-cache"
    (setup,) = [s for s in steps if s.get("uses") == "./.github/actions/setup-tools"]
    assert setup["with"]["cache"] == "true"


def test_kind_e2e_measures_its_own_time_and_disk_into_the_job_summary() -> None:
    steps = steps_of(kind_job())
    runs = [str(s.get("run", "")) for s in steps]
    marks = [r.split()[-1] for r in runs if r.startswith("scripts/job-budget mark")]
    assert marks == ["start", "tools", "cluster", "deploy", "e2e"]
    report = runs.index(
        'scripts/job-budget report --out reports/job-budget.md --title "kind-e2e on this runner"'
    )
    assert runs[report + 1] == "scripts/step-summary reports/job-budget.md"
    assert report + 2 == len(steps)  # the last two steps, after the cluster is deleted
    for i in (report, report + 1, runs.index("scripts/job-budget mark e2e")):
        assert steps[i]["if"] == "${{ always() }}"


def test_the_checks_job_tests_on_a_mongodb_replica_set_started_by_the_script() -> None:
    """Transactions need a replica set, which a service container cannot be: the script starts
    the pinned image with --replSet and hands its URI on through GITHUB_ENV (no static URI)."""
    job = load(".github/workflows/pr.yml")["jobs"]["checks"]
    assert ("services" in job, "MICROSHOP_TEST_MONGODB_URI" in str(job.get("env", {}))) == (
        False,
        False,
    )
    names = [step.get("name") for step in steps_of(job)]
    assert names.index("MongoDB replica set for the tests") == len(names) - 3  # before pytest
