"""The runtime-rules gate fails a tree whose rule file the evaluator refuses, naming the file and
the rule; the repository's rule file passes; a tree without rule files is skipped visibly."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.scripts.gates.conftest import run_gates

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "runtime"
RULES = REPO_ROOT / "policies" / "runtime" / "microshop-rules.yaml"


def tree(root: Path, *files: Path) -> Path:
    """A tree with the given rule files under policies/runtime/."""
    target = root / "policies" / "runtime"
    target.mkdir(parents=True)
    for path in files:
        shutil.copy(path, target / path.name)
    return root


def test_a_refused_rule_file_fails_the_gate_naming_file_rule_and_problem(tmp_path: Path) -> None:
    root = tree(tmp_path / "tree", RULES, FIXTURES / "unsupported-field.yaml")
    run = run_gates(tmp_path / "reports", "--root", str(root), "--only", "runtime-rules")
    assert run.code == 1, run.stderr
    gate = run.gate("runtime-rules")
    assert gate["verdict"] == "failed"
    assert [(f["rule_id"], f["location"], f["message"]) for f in gate["blocking"]] == [
        (
            "MS-RUNTIME-RULE",
            "policies/runtime/unsupported-field.yaml",
            "rule 'Shell with a terminal': field 'proc.tty' is outside the supported subset",
        )
    ]
    assert "MS-RUNTIME-RULE in policies/runtime/unsupported-field.yaml" in run.markdown


def test_the_repository_rule_file_passes_the_gate(tmp_path: Path) -> None:
    run = run_gates(tmp_path / "reports", "--only", "runtime-rules")
    assert run.code == 0, run.stderr
    gate = run.gate("runtime-rules")
    assert (gate["verdict"], gate["blocking"]) == ("passed", [])


def test_a_tree_without_rule_files_is_skipped_visibly_and_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    run = run_gates(tmp_path / "reports", "--root", str(tmp_path / "tree"), "--only",
                    "runtime-rules")  # fmt: skip
    assert run.gate("runtime-rules")["verdict"] == "skipped"
    assert "- **runtime-rules**: skipped: no policies/runtime/*.yaml" in run.markdown
    assert run.code == 1  # a required gate without inputs fails the run
