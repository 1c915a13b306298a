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
        json.dumps({"api-service": {"ref": ref, "size_bytes": 71_500_000, "other": 1}})
    )
    (tmp_path / "image-gates").mkdir()
    (tmp_path / "image-gates" / "summary.json").write_text(
        json.dumps(
            {
                "gates": [
                    {"name": "trivy-vuln", "verdict": "not run", "by_severity": {}, "note": "no DB"}
                ]
            }
        )
    )
    assert figures.collect("build", tmp_path, tmp_path) == {
        "images": {"api-service": {"ref": ref, "size_bytes": 71_500_000}},
        "gates": [
            {
                "gate": "trivy-vuln",
                "verdict": "not run",
                "by_severity": {},
                "excepted": 0,
                "note": "no DB",
            }
        ],
    }
