"""The real pipeline: it passes on this repository, and a copy with a defect planted for a later
stage fails at that stage, with the defect named, and leaves no container or registry behind.
(The gates stage's planted defects: test_gates_planted.py, beside the Docker tests.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from microshop_ci.pipeline.cleanup import RUN_LABEL, registry_answers
from tests.scripts.pipeline.real_run import REPO, Run, commit, copy_repo, pipeline

REGISTRY = os.environ.get("MICROSHOP_REGISTRY", "127.0.0.1:5000")

pytestmark = [pytest.mark.slow, pytest.mark.docker]


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
