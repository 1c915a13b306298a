"""A copy of the repository with a planted defect fails the real pipeline's gates stage, with the
defect named, and the run leaves nothing behind: no container with its label, no registry.

No Docker engine is needed: these runs go beside the Docker tests (tests/conftest.py's groups),
so "nothing behind" is this run's label and this copy's registry, not the machine's state."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from microshop_ci.pipeline.cleanup import RUN_LABEL
from tests.scripts.pipeline.real_run import REPO, commit, copy_repo, pipeline

pytestmark = pytest.mark.slow


def containers_labelled(run_id: str) -> list[str]:
    """Containers, running or not, that carry the label of this run."""
    out = subprocess.run(
        ["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", f"label={RUN_LABEL}={run_id}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


@pytest.mark.parametrize(
    ("defect", "expected"),
    [
        ("bandit", ["bandit", "B602", "planted.py"]),
        ("vulnerable-lock", ["pip-audit", "PYSEC-2018-28", "requests"]),
        ("root-dockerfile", ["trivy-config", "DS-0002", "services/api-service/Dockerfile"]),
    ],
)
def test_gates_stage_stops_a_planted_defect(
    defect: str, expected: list[str], tmp_path: Path
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

    assert run.code == 1, run.output[-3000:]
    assert run.summary["failed_stage"] == "gates"
    assert containers_labelled(run.summary["run_id"]) == []
    assert not (repo / ".local" / "registry" / "registry.pid").exists()
    head = "\n".join(run.markdown.splitlines()[:40])
    for word in expected:
        assert word in head, f"{word!r} not in the summary's first lines:\n{head}"
