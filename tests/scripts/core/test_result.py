"""Typed stage results: a round trip through the one writer and reader, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from microshop_ci.core.result import (
    RESULT_TYPES,
    AdmissionResult,
    BuildResult,
    ChecksResult,
    GatesResult,
    GateSummary,
    ImageSummary,
    PytestCounts,
    ResultFileError,
    SignedImage,
    SignResult,
    SmokeResult,
    read_result,
    write_result,
)
from microshop_ci.core.verdict import Verdict

REF = "127.0.0.1:5000/api-service@sha256:" + "b" * 64
GATE = GateSummary("trivy-vuln", Verdict.NOT_RUN, {"high": 2}, 1, "no DB")
RESULTS = [
    ChecksResult(PytestCounts(7, 2, 3), 93.1),
    ChecksResult(None, None),
    GatesResult((GATE,)),
    BuildResult({"api-service": ImageSummary(REF, 71_500_000)}, (GATE,)),
    SignResult({"api-service": SignedImage(3, True, False)}),
    AdmissionResult({"kind": {"pass": 2, "fail": 1}}, control_refused=True),
    SmokeResult(order_placed=True, summary="order placed in Chromium: 1 x Widget"),
]


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: type(r).__name__)
def test_every_stage_result_survives_a_round_trip(result: object, tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    write_result(path, result)  # type: ignore[arg-type]
    assert read_result(path, type(result)) == result
    assert json.loads(path.read_text())["stage"] == type(result).stage  # type: ignore[attr-defined]


def test_there_is_one_result_type_per_stage() -> None:
    assert sorted(RESULT_TYPES) == ["admission", "build", "checks", "gates", "sign", "smoke"]


def test_the_file_is_plain_json_with_the_stage_name(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    write_result(path, BuildResult({"api-service": ImageSummary(REF, None)}, (GATE,)))
    assert json.loads(path.read_text()) == {
        "stage": "build",
        "images": {"api-service": {"ref": REF, "size": None}},
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


def test_headlines_name_the_key_figures() -> None:
    assert RESULTS[0].headline() == "7 passed, 2 failed, 3 skipped; coverage 93.1%"  # type: ignore[attr-defined]
    assert RESULTS[3].headline() == (  # type: ignore[attr-defined]
        "trivy-vuln: not-run (high 2, 1 excepted); api-service 71.5 MB "
        "api-service@sha256:bbbbbbbbbbbb"
    )
    assert AdmissionResult({}, control_refused=False).headline() == (
        "unsigned control image NOT refused"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"result.json: not JSON \(Expecting property name"),
        ("[]", r"result.json: expected an object with the build stage's fields"),
        ('{"stage": "sign"}', r"result.json: stage is 'sign', expected 'build'"),
        ('{"stage": "build", "gates": []}', r"result.json: images: missing$"),
        (
            '{"stage": "build", "gates": [], "images": {"api": {"ref": "x", "size": "72 MB"}}}',
            r"result.json: images\.api\.size: expected int, got str \"72 MB\"$",
        ),
        (
            '{"stage": "build", "images": {}, "gates": [{"gate": "g", "verdict": "not run",'
            ' "by_severity": {}, "excepted": 0, "note": ""}]}',
            r"result.json: gates\[0\]\.verdict: 'not run' is not a verdict \(passed, ",
        ),
        (
            '{"stage": "build", "images": {}, "gates": [], "size_bytes": 1}',
            r"result.json: size_bytes: unknown field$",
        ),
    ],
)
def test_a_bad_result_file_names_the_file_and_the_field(
    content: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "result.json"
    path.write_text(content)
    with pytest.raises(ResultFileError, match=message):
        read_result(path, BuildResult)


def test_a_missing_result_file_is_a_result_file_error(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match=r"none.json: cannot read the result \(No such file"):
        read_result(tmp_path / "none.json", SmokeResult)


def test_a_bool_is_not_an_int_nor_an_int_a_bool(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text('{"stage": "sign", "services": {"a": {"sbom_components": true,'
                    ' "signature_verified": 1, "attestation_verified": true}}}')  # fmt: skip
    with pytest.raises(ResultFileError, match=r"services\.a\.sbom_components: expected int"):
        read_result(path, SignResult)


def test_counts_keep_the_order_they_were_written_in(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    gate = GateSummary("trivy-config", Verdict.PASSED, {"low": 28, "medium": 18, "high": 2}, 2, "")
    write_result(path, GatesResult((gate,)))
    assert read_result(path, GatesResult).headline() == (
        "trivy-config: passed (low 28, medium 18, high 2, 2 excepted)"
    )
