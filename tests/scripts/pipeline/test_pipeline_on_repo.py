"""The real pipeline: it passes on this repository, and a copy with a planted defect per stage
fails at that stage, with the defect named, and leaves no container or registry behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from microshop_ci.pipeline.cleanup import RUN_LABEL, registry_answers

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"
REGISTRY = os.environ.get("MICROSHOP_REGISTRY", "127.0.0.1:5000")

pytestmark = [pytest.mark.slow, pytest.mark.docker]


@dataclass(frozen=True)
class Run:
    """A finished pipeline run: exit code, summary.json, summary.md and console output."""

    code: int
    report_dir: Path
    summary: dict[str, Any]
    markdown: str
    output: str

    def stage(self, name: str) -> dict[str, Any]:
        """The summary entry of one stage."""
        return next(s for s in self.summary["stages"] if s["name"] == name)


def pipeline(repo: Path, report_dir: Path, *args: str) -> Run:
    """Run repo's scripts/pipeline in plain mode and read its report."""
    proc = subprocess.run(
        [str(repo / "scripts" / "pipeline"), "--plain", "--report-dir", str(report_dir), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    summary = json.loads((report_dir / "summary.json").read_text())
    markdown = (report_dir / "summary.md").read_text()
    return Run(proc.returncode, report_dir, summary, markdown, proc.stdout + proc.stderr)


def copy_repo(dest: Path) -> Path:
    """Copy the files git knows (tracked, or new and not ignored) with ../shared beside them."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    repo = dest / "repo"
    for raw in filter(None, listed):
        source = REPO / raw.decode()
        if source.is_file():
            target = repo / raw.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    if SHARED.exists():
        (dest / "shared").symlink_to(SHARED)
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "copy of the repository")
    return repo


def git(repo: Path, *args: str) -> None:
    """Run git in repo with a fixed identity."""
    identity = ("-c", "user.name=pipeline test", "-c", "user.email=pipeline-test@example.com")
    subprocess.run(["git", "-C", str(repo), *identity, *args], check=True, capture_output=True)


def commit(repo: Path, message: str) -> None:
    """Commit everything in repo, as a developer would before the pipeline runs."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


def run_containers() -> list[str]:
    """Containers any pipeline run labelled, or that compose-local names, still present."""
    out = subprocess.run(
        ["docker", "ps", "-a", "--format", "{{.Names}} {{.Labels}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        line
        for line in out.splitlines()
        if RUN_LABEL in line or line.startswith(("microshop-api-service", "microshop-client"))
    ]


def assert_failed_at(run: Run, stage: str, registry_state: bool) -> str:
    """The run failed at stage, left no container or registry behind; returns the reason."""
    assert run.code == 1, run.output[-3000:]
    assert run.summary["failed_stage"] == stage
    assert run_containers() == []
    assert registry_answers(REGISTRY) is registry_state
    return str(run.stage(stage)["reason"])


@pytest.fixture(scope="module")
def registry_state() -> bool:
    """Whether the registry answered before these runs; checked again after each run."""
    return registry_answers(REGISTRY)


@pytest.fixture(scope="module")
def green_run(tmp_path_factory: pytest.TempPathFactory, registry_state: bool) -> Run:
    """Every stage but checks (this suite is inside checks) on the repository itself."""
    report = tmp_path_factory.mktemp("pipeline-green")
    stages = ("gates", "build", "sign", "admission", "smoke")
    return pipeline(REPO, report, *(arg for s in stages for arg in ("--stage", s)))


def test_pipeline_passes_on_the_repository(green_run: Run, registry_state: bool) -> None:
    assert green_run.code == 0, green_run.markdown + green_run.output[-3000:]
    assert [s["verdict"] for s in green_run.summary["stages"]] == ["passed"] * 5
    images = green_run.stage("build")["figures"]["images"]
    assert sorted(images) == ["api-service", "client-service"]
    assert all("@sha256:" in info["ref"] for info in images.values())
    smoke = green_run.stage("smoke")["figures"]  # core.result.SmokeResult
    assert smoke["order_placed"] is True
    assert "order placed in Chromium" in smoke["summary"]
    assert run_containers() == []
    assert registry_answers(REGISTRY) is registry_state


@pytest.mark.parametrize(
    ("defect", "expected"),
    [
        ("bandit", ["bandit", "B602", "planted.py"]),
        ("vulnerable-lock", ["pip-audit", "PYSEC-2018-28", "requests"]),
        ("root-dockerfile", ["trivy-config", "DS-0002", "services/api-service/Dockerfile"]),
    ],
)
def test_gates_stage_stops_a_planted_defect(
    defect: str, expected: list[str], tmp_path: Path, registry_state: bool
) -> None:
    repo = copy_repo(tmp_path)
    if defect == "bandit":
        (repo / "services/api-service/src/api_service/planted.py").write_text(
            '"""Planted defect."""\nimport subprocess\n\n\n'
            "def run(user_input: str) -> None:\n"
            '    """Run what the user typed."""\n'
            "    subprocess.run(user_input, shell=True, check=False)\n"
        )
    elif defect == "vulnerable-lock":
        legacy = repo / "services/legacy-service"
        legacy.mkdir(parents=True)
        shutil.copy(
            REPO / "tests/fixtures/gates/bad/services/bad-service/requirements.txt",
            legacy / "requirements.txt",
        )
    else:
        dockerfile = repo / "services/api-service/Dockerfile"
        dockerfile.write_text(dockerfile.read_text().replace("USER 65532:65532", "USER root"))
    commit(repo, f"planted defect: {defect}")

    run = pipeline(repo, tmp_path / "report", "--stage", "gates")

    assert_failed_at(run, "gates", registry_state)
    head = "\n".join(run.markdown.splitlines()[:40])
    for word in expected:
        assert word in head, f"{word!r} not in the summary's first lines:\n{head}"


def test_admission_stage_rejects_an_unsigned_image(
    green_run: Run, tmp_path: Path, registry_state: bool
) -> None:
    repo = copy_repo(tmp_path)
    # The developer's local key exists (the green run made it); only its public half is needed.
    (repo / ".local/cosign").mkdir(parents=True)
    shutil.copy(REPO / ".local/cosign/cosign.pub", repo / ".local/cosign/cosign.pub")
    # A change that was built and pushed but never signed: its digest differs from the signed one.
    main = repo / "services/api-service/src/api_service/__init__.py"
    main.write_text(main.read_text() + "# built, pushed, never signed\n")
    commit(repo, "a change that is never signed")
    report = tmp_path / "report"
    built = pipeline(repo, report, "--stage", "build")
    assert built.code == 0, built.markdown + built.output[-3000:]

    run = pipeline(repo, report, "--stage", "admission")

    reason = assert_failed_at(run, "admission", registry_state)
    assert "admission-check" in reason
    assert "api-service" in reason


def test_admission_stage_rejects_a_broken_manifest(
    green_run: Run, tmp_path: Path, registry_state: bool
) -> None:
    repo = copy_repo(tmp_path)
    deployment = repo / "k8s/base/api-service/deployment.yaml"
    deployment.write_text(
        deployment.read_text().replace("runAsNonRoot: true", "runAsNonRoot: 1", 1)
    )
    report = tmp_path / "report"
    report.mkdir()
    shutil.copy(green_run.report_dir / "images.json", report / "images.json")

    run = pipeline(repo, report, "--stage", "admission")

    reason = assert_failed_at(run, "admission", registry_state)
    assert "validate-manifests" in reason
    assert "Deployment/api-service [kubeconform]" in reason
