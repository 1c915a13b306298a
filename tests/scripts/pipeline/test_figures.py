"""Key figures read from what each stage writes: JUnit, coverage, gates summary, images file."""

from __future__ import annotations

import json
from pathlib import Path

from microshop_ci.pipeline import figures


def test_checks_figures_read_junit_and_coverage(tmp_path: Path) -> None:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "junit.xml").write_text(
        '<testsuites><testsuite name="pytest" tests="12" failures="1" errors="1" skipped="3">'
        "</testsuite></testsuites>"
    )
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "coverage.xml").write_text('<coverage line-rate="0.9312"></coverage>')
    assert figures.collect("checks", tmp_path, tmp_path) == {
        "tests": {"passed": 7, "failed": 2, "skipped": 3},
        "coverage_percent": 93.1,
    }


def test_checks_figures_are_empty_without_reports(tmp_path: Path) -> None:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "junit.xml").write_text("<not-closed")
    assert figures.collect("checks", tmp_path, tmp_path) == {}


def test_build_figures_read_images_and_image_gates(tmp_path: Path) -> None:
    ref = "127.0.0.1:5000/api-service@sha256:" + "b" * 64
    (tmp_path / "images.json").write_text(
        json.dumps({"api-service": {"ref": ref, "size": 71_500_000, "other": 1}})
    )
    (tmp_path / "image-gates").mkdir()
    # The keys gates.report.summary_json writes.
    gate = {
        "gate": "trivy-vuln",
        "verdict": "not-run",
        "counts": {"critical": 0, "high": 2, "medium": 0},
        "excepted": [{"rule_id": "CVE-1"}],
        "note": "no DB",
    }
    (tmp_path / "image-gates" / "summary.json").write_text(json.dumps({"gates": [gate]}))
    assert figures.collect("build", tmp_path, tmp_path) == {
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


def test_a_broken_images_file_gives_no_image_figures(tmp_path: Path) -> None:
    (tmp_path / "images.json").write_text(json.dumps({"api-service": {"ref": "api:latest"}}))
    assert figures.collect("build", tmp_path, tmp_path) == {}


def test_sign_figures_say_what_verified_per_service(tmp_path: Path) -> None:
    signed = tmp_path / "supply-chain" / "api-service"
    signed.mkdir(parents=True)
    (signed / "sbom.cdx.json").write_text(json.dumps({"components": [{}, {}, {}]}))
    (signed / "verify.json").write_text('[{"critical": {}}]')
    (signed / "attestation.json").write_text('{"payload": "..."}')
    unsigned = tmp_path / "supply-chain" / "client-service"
    unsigned.mkdir()
    (unsigned / "verify.json").write_text("")
    assert figures.collect("sign", tmp_path, tmp_path)["supply_chain"]["headline"] == (
        "api-service: SBOM 3 components, signature verified, attestation verified; "
        "client-service: SBOM 0 components, signature NOT verified, attestation NOT verified"
    )


def test_admission_figures_count_results_and_the_refused_control(tmp_path: Path) -> None:
    (tmp_path / "admission").mkdir()
    result = {"pass": {"result": "pass"}, "fail": {"result": "fail"}}
    (tmp_path / "admission" / "admission.json").write_text(
        json.dumps(
            {
                "overlays": [{"target": "kind", "results": [result["pass"]] * 2}],
                "control": {"results": [result["pass"], result["fail"]]},
            }
        )
    )
    assert figures.collect("admission", tmp_path, tmp_path)["admission"]["headline"] == (
        "kind: 2 pass; unsigned control image refused"
    )
    (tmp_path / "admission" / "admission.json").write_text(
        json.dumps({"overlays": [], "control": {"results": [result["pass"]]}})
    )
    assert figures.collect("admission", tmp_path, tmp_path)["admission"]["headline"] == (
        "unsigned control image NOT refused"
    )
