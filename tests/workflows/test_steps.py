"""The small steps the workflows call: the required check, image outputs, summaries, splitting."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from microshop_ci.cli import main as microshop
from microshop_ci.gha.budget import Mark, render
from microshop_ci.gha.images import ImagesFileError, load_images
from microshop_ci.gha.needs import failed_jobs
from tests.conftest import REPO_ROOT

SCRIPTS = REPO_ROOT / "scripts"
DIGEST = "sha256:" + "ab" * 32


def _run(
    script: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "NEEDS_"))}
    full_env.update(env or {})
    return subprocess.run(
        [str(SCRIPTS / script), *args], capture_output=True, text=True, check=False, env=full_env
    )


# --- scripts/require-jobs: the single required check


def test_required_check_passes_when_every_job_succeeded() -> None:
    needs = {"checks": {"result": "success"}, "gates": {"result": "success"}}
    result = _run("require-jobs", env={"NEEDS_JSON": json.dumps(needs)})
    assert result.returncode == 0, result.stderr
    assert "2/2 jobs succeeded" in result.stdout


@pytest.mark.parametrize("outcome", ["failure", "cancelled", "skipped"])
def test_required_check_fails_when_a_job_did_not_succeed(outcome: str) -> None:
    needs = {"checks": {"result": "success"}, "images": {"result": outcome}}
    result = _run("require-jobs", env={"NEEDS_JSON": json.dumps(needs)})
    assert result.returncode == 1
    assert f"images: {outcome}" in result.stderr


def test_required_check_allows_only_the_named_skips() -> None:
    needs = {"a": {"result": "skipped"}, "b": {"result": "skipped"}}
    assert failed_jobs(needs, frozenset({"a"})) == ["b: skipped"]


@pytest.mark.parametrize("raw", ["", "not json", "{}"])
def test_required_check_refuses_missing_or_empty_needs(raw: str) -> None:
    result = _run("require-jobs", env={"NEEDS_JSON": raw})
    assert result.returncode == 2
    assert "NEEDS_JSON" in result.stderr


# --- scripts/images-output and the images file


def _images_file(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "images.json"
    path.write_text(json.dumps(data))
    return path


def test_images_file_from_build_images_gives_name_and_digest(tmp_path: Path) -> None:
    ref = f"ghcr.io/acme/api-service@{DIGEST}"
    path = _images_file(tmp_path, {"api-service": {"ref": ref, "name": "x", "digest": DIGEST}})
    image = load_images(path)["api-service"]
    assert (image.name, image.digest, image.ref) == ("ghcr.io/acme/api-service", DIGEST, ref)


def test_a_tag_is_dropped_but_a_registry_port_is_kept(tmp_path: Path) -> None:
    path = _images_file(
        tmp_path,
        {"client-service": {"ref": f"kind-registry:5000/client-service:ci@{DIGEST}"}},
    )
    assert load_images(path)["client-service"].name == "kind-registry:5000/client-service"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"api-service": {"ref": "ghcr.io/acme/api-service:latest"}}, "is not NAME@sha256"),
        ({}, "lists no image"),
        # One shape: the object scripts/build-images writes; a list or a bare string is refused.
        ([{"service": "x", "ref": f"r/x@{DIGEST}"}], "expected an object of service"),
        ({"api-service": f"r/api-service@{DIGEST}"}, r"api-service\.ref is missing"),
        ("text", "expected an object of service"),
    ],
)
def test_a_bad_images_file_is_refused_with_its_reason(
    tmp_path: Path, data: object, message: str
) -> None:
    with pytest.raises(ImagesFileError, match=message):
        load_images(_images_file(tmp_path, data))


def test_images_output_writes_services_and_images_for_later_jobs(tmp_path: Path) -> None:
    path = _images_file(
        tmp_path,
        {
            "client-service": {"ref": f"ghcr.io/acme/client-service@{DIGEST}"},
            "api-service": {"ref": f"ghcr.io/acme/api-service@{DIGEST}"},
        },
    )
    output = tmp_path / "github_output"
    result = _run("images-output", str(path), env={"GITHUB_OUTPUT": str(output)})
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert json.loads(lines["services"]) == ["api-service", "client-service"]
    assert json.loads(lines["images"])["api-service"] == {
        "name": "ghcr.io/acme/api-service",
        "digest": DIGEST,
        "ref": f"ghcr.io/acme/api-service@{DIGEST}",
    }


def test_images_output_names_a_missing_file(tmp_path: Path) -> None:
    result = _run("images-output", str(tmp_path / "nope.json"))
    assert result.returncode == 1
    assert "nope.json: cannot read the images file (No such file or directory)" in result.stderr


def test_ref_of_an_unknown_service_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _images_file(tmp_path, {"api-service": {"ref": f"r/api-service@{DIGEST}"}})
    assert microshop(["images-output", "ref", str(path), "api-service"]) == 0
    assert capsys.readouterr().out.strip() == f"r/api-service@{DIGEST}"
    assert microshop(["images-output", "ref", str(path), "web"]) == 1
    assert "has no image for 'web'" in capsys.readouterr().err


# --- scripts/step-summary


def test_step_summary_appends_the_report(tmp_path: Path) -> None:
    summary, report = tmp_path / "summary.md", tmp_path / "report.md"
    summary.write_text("# before\n")
    report.write_text("| gate | verdict |\n")
    result = _run("step-summary", str(report), env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 0
    assert summary.read_text() == "# before\n| gate | verdict |\n"


def test_step_summary_says_plainly_when_the_report_is_missing(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    result = _run(
        "step-summary", str(tmp_path / "gone.md"), env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert result.returncode == 0
    assert "gone.md was not written" in summary.read_text()


# --- bad input to the cluster and release scripts: a clear error, nothing changed


def test_verify_release_names_the_missing_identity(tmp_path: Path) -> None:
    path = _images_file(tmp_path, {"api-service": {"ref": f"r/api-service@{DIGEST}"}})
    result = _run("verify-release", "--images", str(path), "--service", "api-service")
    assert result.returncode == 1
    assert "COSIGN_CERTIFICATE_IDENTITY is not set" in result.stderr


def test_verify_release_refuses_an_identity_other_than_this_release_workflow(
    tmp_path: Path,
) -> None:
    path = _images_file(tmp_path, {"api-service": {"ref": f"r/api-service@{DIGEST}"}})
    env = {
        "GITHUB_REPOSITORY": "acme/microshop",
        "GITHUB_REF": "refs/tags/v1.0.0",
        "GITHUB_SHA": "0" * 40,
        "COSIGN_CERTIFICATE_OIDC_ISSUER": "https://token.actions.githubusercontent.com",
        "COSIGN_CERTIFICATE_IDENTITY": "https://github.com/acme/microshop/.github/workflows/pr.yml@refs/heads/main",
    }
    result = _run("verify-release", "--images", str(path), "--service", "api-service", env=env)
    assert result.returncode == 1
    assert (
        "expected 'https://github.com/acme/microshop/.github/workflows/release.yml@refs/tags/v1.0.0'"
        in result.stderr
    )


def test_kind_up_refuses_a_registry_without_a_port() -> None:
    result = _run("kind-up", env={"MICROSHOP_REGISTRY": "kind-registry"})
    assert result.returncode == 1
    assert "MICROSHOP_REGISTRY must be HOST:PORT" in result.stderr


def test_kind_deploy_needs_the_images_file(tmp_path: Path) -> None:
    result = _run("kind-deploy", "--images", str(tmp_path / "none.json"))
    assert result.returncode == 1
    assert "usage: scripts/kind-deploy --images FILE" in result.stderr


def test_scan_images_needs_the_images_file() -> None:
    result = _run("scan-images", "--report-dir", "x")
    assert result.returncode == 2
    assert "the following arguments are required: --images" in result.stderr


def test_kind_diagnostics_writes_notes_and_succeeds_without_a_cluster(tmp_path: Path) -> None:
    out = tmp_path / "diag"
    result = _run("kind-diagnostics", str(out), env={"KUBECONFIG": str(tmp_path / "none")})
    assert result.returncode == 0, result.stderr
    assert (out / "events.txt").read_text().strip() != ""
    assert (out / "kyverno.log").is_file()
    assert (out / "istiod.log").is_file()


def test_install_cluster_addons_stops_before_anything_without_a_cluster(tmp_path: Path) -> None:
    fake = tmp_path / "kubectl"  # a kubectl whose cluster does not answer
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    path = f"{tmp_path}:{os.environ['PATH']}"
    result = _run("install-cluster-addons", env={"PATH": path})
    assert result.returncode == 1
    assert "no reachable cluster in the current kube-context" in result.stderr


def test_kind_down_is_a_no_op_without_a_cluster(tmp_path: Path) -> None:
    result = _run("kind-down", env={"KIND_CLUSTER_NAME": "microshop-test-absent"})
    assert result.returncode == 0, result.stderr
    assert "deleting kind cluster" not in result.stderr


def test_ensure_tools_prints_each_pinned_tool_path() -> None:
    result = _run("ensure-tools", "actionlint")
    assert result.returncode == 0, result.stderr
    name, path = result.stdout.split()
    assert name == "actionlint"
    assert Path(path).is_file()
    assert "/actionlint/v" in path


def test_e2e_skips_in_one_line_without_a_cluster(tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(tmp_path / "no-kubeconfig"), "KUBERNETES_SERVICE_HOST": ""}
    result = _run("e2e", env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1, skipped
    assert skipped[0].startswith("SKIPPED [1] tests/e2e/cluster/conftest.py:")
    assert skipped[0].endswith(
        ": no cluster configured: no kubeconfig (KUBECONFIG, ~/.kube/config) and not in a pod"
    )


def test_e2e_fails_without_a_cluster_when_one_is_required(tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(tmp_path / "no-kubeconfig"), "KUBERNETES_SERVICE_HOST": ""}
    result = _run("e2e", "--require-cluster", env=env)
    assert result.returncode != 0
    assert "E2E_REQUIRE_CLUSTER=1 but no cluster configured" in result.stdout + result.stderr


def test_images_output_for_one_service_gives_its_name_and_digest(tmp_path: Path) -> None:
    path = _images_file(tmp_path, {"api-service": {"ref": f"ghcr.io/acme/api-service@{DIGEST}"}})
    output = tmp_path / "github_output"
    result = _run("images-output", str(path), "api-service", env={"GITHUB_OUTPUT": str(output)})
    assert result.returncode == 0, result.stderr
    assert output.read_text() == (
        f"name=ghcr.io/acme/api-service\ndigest={DIGEST}\nref=ghcr.io/acme/api-service@{DIGEST}\n"
    )
    missing = _run("images-output", str(path), "web", env={"GITHUB_OUTPUT": str(output)})
    assert missing.returncode == 1
    assert "has no image for 'web'" in missing.stderr


def test_a_plain_pytest_run_skips_the_cluster_folder_even_with_a_kubeconfig(tmp_path: Path) -> None:
    """A kubeconfig that points at some cluster must not turn a unit-test run into a cluster run:
    without E2E_CLUSTER=1 (scripts/e2e sets it) the folder skips before connecting."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {}}]\n"
    )
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    env.pop("E2E_CLUSTER", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/e2e",
            "-m",
            "e2e",
            "-p",
            "no:cacheprovider",
            "-rs",
            "--no-cov",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 5, result.stdout[-2000:] + result.stderr[-2000:]  # nothing ran
    skipped = [
        re.sub(r"conftest\.py:\d+:", "conftest.py:LINE:", line)  # where the skip is, not which line
        for line in result.stdout.splitlines()
        if line.startswith("SKIPPED")
    ]
    assert skipped == [
        "SKIPPED [1] tests/e2e/cluster/conftest.py:LINE: the cluster tests run through scripts/e2e"
        " (E2E_CLUSTER=1); this run did not ask"
    ], result.stdout[-2000:]


# --- scripts/job-budget: the kind job's own time and disk, for its job summary


def test_the_budget_table_lists_every_mark_with_its_time_and_disk() -> None:
    def mark(label: str, at: float, used: float, cache: float) -> Mark:
        gb = 10**9
        sizes = {"microshop cache": int(cache * gb), "Go module cache": int(0.5 * gb)}
        return Mark(label, at, 72 * gb, int(used * gb), int((72 - used) * gb), sizes)

    marks = [mark("start", 1000, 50.0, 0), mark("tools", 1450, 53.2, 1.4),
             mark("cluster", 2281.4, 61.06, 2.75), mark("end", 2330, 58, 2.75)]  # fmt: skip
    assert render("kind-e2e on this runner", marks).splitlines() == [
        "## kind-e2e on this runner",
        "",
        "Measured by the job on its runner at each mark (scripts/job-budget); `/ used` includes "
        "Docker's images. A peak between two marks is not seen.",
        "",
        "| mark | since first mark | since previous | / used | / free | microshop cache "
        "| Go module cache |",
        "|---|---:|---:|---:|---:|---:|---:|",
        "| start | 0 s | - | 50.0 GB | 22.0 GB | 0.0 GB | 0.5 GB |",
        "| tools | 7 min 30 s | 7 min 30 s | 53.2 GB | 18.8 GB | 1.4 GB | 0.5 GB |",
        "| cluster | 21 min 21 s | 13 min 51 s | 61.1 GB | 10.9 GB | 2.8 GB | 0.5 GB |",
        "| end | 22 min 10 s | 49 s | 58.0 GB | 14.0 GB | 2.8 GB | 0.5 GB |",
        "",
        "Time from the first to the last mark: 22 min 10 s. Disk of /: 72.0 GB; most used 61.1 GB"
        " (at `cluster`), least free 10.9 GB (at `cluster`).",
    ]


def test_job_budget_marks_and_reports_what_this_machine_says(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "tools").mkdir(parents=True)
    (cache / "tools" / "kind").write_bytes(os.urandom(2_000_000))
    env = {"MICROSHOP_CACHE": str(cache), "GOMODCACHE": str(tmp_path / "none"),
           "GOCACHE": str(tmp_path / "none")}  # fmt: skip
    log, out = tmp_path / "budget.jsonl", tmp_path / "budget.md"
    first = _run("job-budget", "--log", str(log), "mark", "start", env=env)
    assert (first.returncode, first.stdout) == (0, f"job-budget: start ({log})\n")
    report = _run("job-budget", "--log", str(log), "report", "--out", str(out), env=env)
    assert report.returncode == 0, report.stderr
    marks = [json.loads(line) for line in log.read_text().splitlines()]
    assert [m["label"] for m in marks] == ["start", "end"]
    # as du counts it: the blocks the one file of the cache holds
    blocks = os.lstat(cache / "tools" / "kind").st_blocks * 512
    assert marks[0]["sizes"]["microshop cache"] == blocks
    assert marks[0]["sizes"]["Go module cache"] == 0
    assert marks[0]["disk_used"] + marks[0]["disk_free"] <= marks[0]["disk_total"]
    rows = [line.split(" | ") for line in out.read_text().splitlines() if line.startswith("| ")]
    assert [row[0] for row in rows[1:]] == ["| start", "| end"]
    assert rows[1][1:3] == ["0 s", "-"]
    assert rows[1][5] == "0.0 GB"  # the 2 MB file, in GB
