"""The act stand-ins' checks (tests/workflows/act-actions/standin.py), run as the runner runs them:
inputs in `INPUT_*`, outputs to $GITHUB_OUTPUT, a refusal is one `::error::` line and exit 1."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.workflows.test_act import STAND_INS

DIGEST = "sha256:" + "ab" * 32


@dataclass(frozen=True)
class StandInRun:
    code: int
    stdout: str
    outputs: str


def run(action: str, workspace: Path, **inputs: str) -> StandInRun:
    output = workspace / "github-output"
    output.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INPUT_")}
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    env.update({"GITHUB_OUTPUT": str(output), "GITHUB_WORKSPACE": str(workspace),
                "RUNNER_TEMP": str(workspace)})  # fmt: skip
    env.pop("ACTIONS_RUNTIME_TOKEN", None)
    result = subprocess.run(
        [sys.executable, str(STAND_INS / "standin.py"), action],
        capture_output=True, text=True, env=env, check=False, timeout=60,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    return StandInRun(result.returncode, result.stdout, output.read_text())


def sarif(path: Path, tool: str, version: str = "2.1.0", **run_extra: object) -> None:
    doc = {"version": version, "runs": [{"tool": {"driver": {"name": tool}}, "results": [{}, {}],
                                         **run_extra}]}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


def test_upload_sarif_accepts_distinct_tools_and_prints_the_category(tmp_path: Path) -> None:
    sarif(tmp_path / "r" / "a.sarif", "bandit")
    sarif(tmp_path / "r" / "b.sarif", "zizmor")
    out = run("upload-sarif", tmp_path, sarif_file="r", category="gates")
    assert out.code == 0
    assert out.stdout == (
        "upload-sarif stand-in: category gates: 2 files, tools bandit, zizmor, 4 results\n"
    )
    assert out.outputs == "sarif-id=stand-in-gates\n"


def test_upload_sarif_refuses_what_code_scanning_refuses(tmp_path: Path) -> None:
    sarif(tmp_path / "old" / "a.sarif", "bandit", version="2.0.0")
    sarif(tmp_path / "twice" / "a.sarif", "trivy")
    sarif(tmp_path / "twice" / "b.sarif", "trivy")
    sarif(tmp_path / "fixed-id" / "a.sarif", "trivy", automationDetails={"id": "x/"})
    cases = {
        "old": "::error::upload-sarif stand-in: a.sarif: not SARIF 2.1.0 (version '2.0.0')",
        "twice": "::error::upload-sarif stand-in: b.sarif and a.sarif: two runs of tool 'trivy'"
        " in one upload (category 'gates')",
        "fixed-id": "::error::upload-sarif stand-in: a.sarif: automationDetails.id hides"
        " category 'gates'",
        "absent": "::error::upload-sarif stand-in: Path does not exist: absent",
    }
    for folder, message in cases.items():
        out = run("upload-sarif", tmp_path, sarif_file=folder, category="gates")
        assert (out.code, out.stdout) == (1, message + "\n"), folder


def test_gh_release_fails_on_an_unmatched_pattern_and_lists_the_assets(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "api-service.sbom.cdx.json").write_text("{}")
    listed = run("action-gh-release", tmp_path, files="dist/*", fail_on_unmatched_files="true")
    assert (listed.code, listed.stdout) == (
        0, "action-gh-release stand-in: 1 assets: api-service.sbom.cdx.json\n"
    )  # fmt: skip
    missing = run("action-gh-release", tmp_path, files="none/*", fail_on_unmatched_files="true")
    assert (missing.code, missing.stdout) == (
        1, "::error::action-gh-release stand-in: Pattern 'none/*' does not match any files.\n"
    )  # fmt: skip


def test_login_needs_every_input_and_never_prints_the_password(tmp_path: Path) -> None:
    out = run("login-action", tmp_path, registry="ghcr.io", username="bot", password="")
    assert (out.code, out.stdout) == (
        1,
        "::error::login-action stand-in: password required\n",
    )
    ok = run("login-action", tmp_path, registry="ghcr.io", username="bot", password="s3cret")
    assert ok.code == 0
    assert "s3cret" not in ok.stdout


def test_artifacts_need_acts_artifact_server(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "a.json").write_text("{}")
    up = run("upload-artifact", tmp_path, name="images", path="reports", if_no_files_found="error")
    assert (up.code, up.stdout) == (
        1,
        "::error::upload-artifact stand-in: ACTIONS_RUNTIME_TOKEN is missing:"
        " run act with --artifact-server-path\n",
    )
    none = run("upload-artifact", tmp_path, name="x", path="absent", if_no_files_found="error")
    assert (none.code, none.stdout) == (
        1,
        "::error::upload-artifact stand-in: No files were found with the provided path: absent."
        " No artifacts will be uploaded.\n",
    )


def _standin_module() -> object:
    spec = importlib.util.spec_from_file_location("standin", STAND_INS / "standin.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_upload_artifact_keeps_paths_below_the_searched_folder_as_v4_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One folder searched: paths stay relative to it, even with one subfolder inside (a leg's
    reports/supply-chain/api-service/...); several patterns: their common folder; one file: its
    parent."""
    standin: Any = _standin_module()
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    sbom = tmp_path / "reports" / "supply-chain" / "api-service" / "sbom.cdx.json"
    sbom.parent.mkdir(parents=True)
    sbom.write_text("{}")
    (tmp_path / "reports" / "images.json").write_text("{}")
    one_folder = ["reports/supply-chain"]
    root = standin.search_root(one_folder, standin.matched_files(one_folder))
    assert sbom.relative_to(root) == Path("api-service/sbom.cdx.json")
    two = ["reports/supply-chain", "reports/images.json"]
    assert standin.search_root(two, standin.matched_files(two)) == tmp_path / "reports"
    wildcard = ["reports/supply-chain/**/*.json"]
    assert standin.search_root(wildcard, []) == tmp_path / "reports" / "supply-chain"
    lone = ["reports/images.json"]
    assert standin.search_root(lone, standin.matched_files(lone)) == tmp_path / "reports"
