"""The repository itself passes every gate under its own policy and exceptions."""

from __future__ import annotations

from tests.scripts.gates.conftest import GatesRun


def test_repository_passes_every_gate(repo_run: GatesRun) -> None:
    failing = {g["gate"]: g["reasons"] for g in repo_run.summary["gates"] if g["fails_run"]}
    assert failing == {}
    assert repo_run.code == 0, repo_run.stderr


def test_repository_run_covers_every_gate_and_says_what_did_not_run(repo_run: GatesRun) -> None:
    verdicts = {g["gate"]: g["verdict"] for g in repo_run.summary["gates"]}
    assert set(verdicts) == {
        "bandit", "pip-audit", "trivy-config", "trivy-secret", "trivy-vuln",
        "actionlint", "zizmor", "manifests", "runtime-rules",
    }  # fmt: skip
    for gate in (
        "bandit", "pip-audit", "trivy-config", "trivy-secret", "actionlint", "zizmor",
        "runtime-rules",
    ):  # fmt: skip
        assert verdicts[gate] == "passed", gate
    if verdicts["trivy-vuln"] == "not-run":
        assert "> ⚠️ Trivy's vulnerability scan did not run" in repo_run.markdown
