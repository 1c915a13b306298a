"""Key figures: each stage writes a typed result (core.result) from what it produced, and the
pipeline reads it back; the figures and headlines are the ones the stages' own files give."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pytest

from microshop_ci.admission import check
from microshop_ci.checks import cli as checks
from microshop_ci.cli import main as microshop
from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.core.result import (
    ChecksResult,
    GatesResult,
    ResultFileError,
    to_json,
    write_result,
)
from microshop_ci.gates import cli as gates_cli
from microshop_ci.gates.evaluate import GateResult
from microshop_ci.gates.model import Finding, GateRun, RunStatus, Severity, Verdict
from microshop_ci.gates.policy import GateException, GatePolicy
from microshop_ci.pipeline import figures
from microshop_ci.sign import cli as sign_cli


def test_checks_figures_read_junit_and_coverage(tmp_path: Path) -> None:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "junit.xml").write_text(
        '<testsuites><testsuite name="pytest" tests="12" failures="1" errors="1" skipped="3">'
        "</testsuite></testsuites>"
    )
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "coverage.xml").write_text('<coverage line-rate="0.9312"></coverage>')
    result = ChecksResult(
        checks.pytest_counts(tmp_path / "checks" / "junit.xml"),
        checks.coverage_percent(tmp_path / "reports" / "coverage.xml"),
    )
    write_result(tmp_path / "checks" / "result.json", result)
    assert to_json(figures.collect("checks", tmp_path)) == {
        "tests": {"passed": 7, "failed": 2, "skipped": 3},
        "coverage_percent": 93.1,
    }


def test_checks_figures_are_empty_without_reports(tmp_path: Path) -> None:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "junit.xml").write_text("<not-closed")
    assert checks.pytest_counts(tmp_path / "checks" / "junit.xml") is None
    assert checks.coverage_percent(tmp_path / "reports" / "coverage.xml") is None
    assert figures.collect("checks", tmp_path) is None  # the stage wrote no result


def _image_gate(today: dt.date) -> GateResult:
    finding = Finding("trivy-vuln", "CVE-1", Severity.HIGH, "openssl", "bad", "image")
    run = GateRun(RunStatus.NOT_RUN, "trivy", note="no DB")
    for f in (finding, Finding("trivy-vuln", "CVE-2", Severity.HIGH, "zlib", "bad", "image")):
        run.add(f)
    exception = GateException(
        gate="trivy-vuln",
        id="CVE-1",
        target="openssl",
        reason="no fixed openssl in the base image yet",
        owner="platform",
        expires=today + dt.timedelta(days=9),
    )
    # As gates.evaluate leaves a gate whose tool could not run: its findings kept, one excepted.
    return GateResult(
        "trivy-vuln", run, GatePolicy(fail_on="high"), Verdict.NOT_RUN,
        excepted=[(finding, exception)],
    )  # fmt: skip


def test_build_figures_read_images_and_image_gates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = "127.0.0.1:5000/api-service@sha256:" + "b" * 64
    (tmp_path / "images.json").write_text(
        json.dumps({"api-service": {"ref": ref, "size": 71_500_000, "other": 1}})
    )
    seen: list[list[str]] = []
    gate = _image_gate(dt.date(2026, 1, 1))

    def execute(args: argparse.Namespace) -> tuple[int, list[GateResult]]:
        seen.append(args)
        return 0, [gate]

    monkeypatch.setattr(gates_cli, "execute", execute)
    result = tmp_path / "build" / "result.json"
    code = microshop(
        [
            "scan-images",
            "--offline",
            "--images",
            str(tmp_path / "images.json"),
            "--result",
            str(result),
        ]
    )
    assert code == 0
    assert (seen[0].mode, seen[0].only, seen[0].images) == (
        "offline",
        ["trivy-vuln", "trivy-secret"],
        [ref],
    )
    assert seen[0].report_dir == REPO_ROOT / "reports" / "image-gates"
    assert to_json(figures.collect("build", tmp_path)) == {
        "images": {"api-service": {"ref": ref, "size": 71_500_000}},
        "gates": [
            {
                "gate": "trivy-vuln",
                "verdict": "not-run",
                "by_severity": {"high": 2},
                "excepted": 1,
                "note": "no DB",
            }
        ],
    }


def test_a_broken_images_file_gives_no_image_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "images.json").write_text(json.dumps({"api-service": {"ref": "api:latest"}}))
    result = tmp_path / "build" / "result.json"
    code = microshop(
        ["scan-images", "--images", str(tmp_path / "images.json"), "--result", str(result)]
    )
    assert code == 1
    assert "api-service.ref: 'api:latest' is not NAME@sha256" in capsys.readouterr().err
    assert figures.collect("build", tmp_path) is None


def test_scan_images_without_an_images_file_says_how_to_call_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    usage = "(see microshop scan-images --help)\n"
    assert microshop(["scan-images", "--report-dir", "x"]) == 2
    assert capsys.readouterr().err == (
        f"error: microshop scan-images: the following arguments are required: --images {usage}"
    )
    assert microshop(["scan-images", "--images"]) == 2
    assert capsys.readouterr().err == (
        f"error: microshop scan-images: argument --images: expected one argument {usage}"
    )
    assert microshop(["scan-images", "--images", "f", "--fast"]) == 2
    assert capsys.readouterr().err == (
        f"error: microshop scan-images: unrecognized arguments: --fast {usage}"
    )


def test_sign_figures_say_what_verified_per_service(tmp_path: Path) -> None:
    signed = tmp_path / "supply-chain" / "api-service"
    signed.mkdir(parents=True)
    (signed / "sbom.cdx.json").write_text(json.dumps({"components": [{}, {}, {}]}))
    (signed / "verify.json").write_text('[{"critical": {}}]')
    (signed / "attestation.json").write_text('{"payload": "..."}')
    unsigned = tmp_path / "supply-chain" / "client-service"
    unsigned.mkdir()
    (unsigned / "verify.json").write_text("")
    write_result(tmp_path / "sign" / "result.json", sign_cli.outcome(tmp_path / "supply-chain"))
    stage = figures.collect("sign", tmp_path)
    assert stage is not None
    assert stage.headline() == (
        "api-service: SBOM 3 components, signature verified, attestation verified; "
        "client-service: SBOM 0 components, signature NOT verified, attestation NOT verified"
    )


def test_admission_figures_count_results_and_the_refused_control() -> None:
    result = {"pass": {"result": "pass"}, "fail": {"result": "fail"}}
    report = check.Report(
        overlays=[check.Outcome("kind", [result["pass"]] * 2)],
        control=check.Outcome("control", [result["pass"], result["fail"]]),
    )
    assert check.outcome_of(report).headline() == "kind: 2 pass; unsigned control image refused"
    report = check.Report(overlays=[], control=check.Outcome("control", [result["pass"]]))
    assert check.outcome_of(report).headline() == "unsigned control image NOT refused"


def test_the_gates_stage_result_keeps_only_non_zero_counts() -> None:
    gate = _image_gate(dt.date(2026, 1, 1))
    assert GatesResult(gates_cli.gate_summaries([gate])).headline() == (
        "trivy-vuln: not-run (high 2, 1 excepted)"
    )


def test_a_result_of_the_wrong_shape_is_an_error_naming_the_file_and_field(
    tmp_path: Path,
) -> None:
    (tmp_path / "gates").mkdir()
    (tmp_path / "gates" / "result.json").write_text('{"stage": "gates", "gates": [{"gate": 1}]}')
    with pytest.raises(ResultFileError, match=r"gates/result.json: gates\[0\]\.gate: expected str"):
        figures.collect("gates", tmp_path)
