"""The manifests gate runs the Kubernetes validator when present and reads its SARIF."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.scripts.gates.conftest import run_gates

SARIF = {
    "version": "2.1.0",
    "runs": [
        {
            "tool": {"driver": {"name": "validate-manifests", "rules": []}},
            "results": [
                {
                    "ruleId": "require-run-as-nonroot",
                    "level": "error",
                    "message": {"text": "Deployment api-service may run as root"},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": "k8s/base/api/deployment.yaml"},
                                "region": {"startLine": 7},
                            }
                        }
                    ],
                }
            ],
        }
    ],
}


def make_tree(root: Path, validator: str | None) -> Path:
    (root / "k8s" / "base").mkdir(parents=True)
    if validator is not None:
        script = root / "scripts" / "validate-manifests"
        script.parent.mkdir()
        script.write_text(validator)
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return root


def test_validator_sarif_results_fail_the_gate(tmp_path: Path) -> None:
    sarif = json.dumps(SARIF).replace("'", "'\\''")
    root = make_tree(
        tmp_path / "tree", f"#!/bin/sh\necho '{sarif}' > \"$MICROSHOP_GATES_SARIF\"\nexit 1\n"
    )
    run = run_gates(tmp_path / "reports", "--root", str(root), "--only", "manifests")
    assert run.code == 1, run.stderr
    (finding,) = run.gate("manifests")["blocking"]
    assert (finding["rule_id"], finding["location"], finding["severity"]) == (
        "require-run-as-nonroot",
        "k8s/base/api/deployment.yaml:7",
        "high",
    )


def test_clean_validator_passes_the_gate(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree", "#!/bin/sh\nexit 0\n")
    run = run_gates(tmp_path / "reports", "--root", str(root), "--only", "manifests")
    assert run.code == 0, run.stderr
    assert run.gate("manifests")["verdict"] == "passed"


def test_failing_validator_without_sarif_still_fails(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree", "#!/bin/sh\necho 'k8s/x.yaml: bad'\nexit 3\n")
    run = run_gates(tmp_path / "reports", "--root", str(root), "--only", "manifests")
    assert run.code == 1
    (finding,) = run.gate("manifests")["blocking"]
    assert finding["rule_id"] == "validator-failed"
    assert "exited 3: k8s/x.yaml: bad" in finding["message"]


def test_missing_validator_is_skipped_visibly(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree", None)
    run = run_gates(tmp_path / "reports", "--root", str(root), "--only", "manifests")
    assert run.gate("manifests")["verdict"] == "skipped"
    assert "skipped: no scripts/validate-manifests yet" in run.markdown
