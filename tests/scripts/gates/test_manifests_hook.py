"""The manifests gate calls the Kubernetes validator (admission.validate) directly: its findings
are the gate's, a check that cannot run is an error, and a tree without it is skipped visibly."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from microshop_ci.admission import validate
from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.core.tools import ToolError
from microshop_ci.gates.context import Context
from microshop_ci.gates.evaluate import evaluate
from microshop_ci.gates.manifests_gate import ManifestsGate
from microshop_ci.gates.model import Finding, RunStatus, Severity, Verdict
from microshop_ci.gates.policy import load_policy
from microshop_ci.gates.registry import GATES
from tests.scripts.gates.conftest import run_gates

POLICY = load_policy(REPO_ROOT / "policies" / "gates" / "policy.yaml", set(GATES))


def make_tree(root: Path, validator: str | None) -> Path:
    (root / "k8s" / "base").mkdir(parents=True)
    if validator is not None:
        script = root / "scripts" / "validate-manifests"
        script.parent.mkdir()
        script.write_text(validator)
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return root


def gate_on(root: Path, tmp_path: Path) -> tuple[RunStatus, str, list[Finding], Verdict]:
    run = ManifestsGate().run(Context(root, "offline", POLICY, tmp_path))
    result = evaluate("manifests", run, POLICY.gates["manifests"], (), dt.date(2026, 1, 1))
    return run.status, run.note, run.findings, result.verdict


def test_validator_findings_fail_the_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = validate.finding(
        "kubeconform", "Deployment/api-service", "k8s/overlays/kind", "runAsNonRoot: not bool"
    )
    monkeypatch.setattr(validate, "validate", lambda: [found])
    status, _, findings, verdict = gate_on(REPO_ROOT, tmp_path)
    assert (status, verdict) == (RunStatus.RAN, Verdict.FAILED)
    (finding,) = findings
    assert (finding.gate, finding.rule_id, finding.location, finding.severity) == (
        "manifests",
        "kubeconform",
        "k8s/overlays/kind",
        Severity.HIGH,
    )
    assert finding.target == "Deployment/api-service"


def test_clean_validator_passes_the_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "validate", list)
    assert gate_on(REPO_ROOT, tmp_path) == (RunStatus.RAN, "", [], Verdict.PASSED)


def test_a_check_that_cannot_run_is_a_gate_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> list[Finding]:
        raise ToolError("kustomize not found")

    monkeypatch.setattr(validate, "validate", broken)
    status, note, findings, verdict = gate_on(REPO_ROOT, tmp_path)
    assert (status, findings, verdict) == (RunStatus.ERROR, [], Verdict.ERROR)
    assert note == "scripts/validate-manifests: a check could not run: kustomize not found"


def test_another_tree_with_a_validator_is_an_error_not_a_silent_pass(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree", "#!/bin/sh\nexit 0\n")
    status, note, _, verdict = gate_on(root, tmp_path)
    assert (status, verdict) == (RunStatus.ERROR, Verdict.ERROR)
    assert note == f"error: the validator checks {REPO_ROOT}, not --root {root}"


def test_missing_validator_is_skipped_visibly(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree", None)
    run = run_gates(tmp_path / "reports", "--root", str(root), "--only", "manifests")
    assert run.gate("manifests")["verdict"] == "skipped"
    assert "skipped: no scripts/validate-manifests yet" in run.markdown
