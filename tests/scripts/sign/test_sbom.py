"""The SBOM check: a service's pins, its Debian base, a Go binary, and signed attestations."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from microshop_ci.sign import sbom
from microshop_ci.sign.sbom import SbomError

PYPROJECT = """[project]
name = "api-service"
dependencies = [
    "FastAPI==0.120.1",
    "pydantic[email]==2.12.3",
    "python_jose == 3.5.0; python_version >= '3.11'",
]
"""


def _bom(
    python: dict[str, str], debian: tuple[str, ...] = ("python3.11-minimal", "libc6")
) -> dict[str, Any]:
    items = [{"name": n, "version": v, "purl": f"pkg:pypi/{n}@{v}"} for n, v in python.items()]
    items += [{"name": d, "version": "1", "purl": f"pkg:deb/debian/{d}@1"} for d in debian]
    return {"bomFormat": "CycloneDX", "components": items}


def _envelope(predicate_type: str, predicate: dict[str, Any]) -> str:
    statement = {"predicateType": predicate_type, "predicate": predicate}
    payload = base64.b64encode(json.dumps(statement).encode()).decode()
    return json.dumps({"payloadType": "application/vnd.in-toto+json", "payload": payload})


@pytest.fixture
def pyproject(tmp_path: Path) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT)
    return path


def test_pins_are_read_by_canonical_name_with_extras_and_markers(pyproject: Path) -> None:
    assert sbom.pinned_dependencies(pyproject) == {
        "fastapi": "0.120.1",
        "pydantic": "2.12.3",
        "python-jose": "3.5.0",
    }


def test_a_dependency_not_pinned_with_double_equals_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\ndependencies = ["httpx>=0.28"]\n')
    with pytest.raises(SbomError) as caught:
        sbom.pinned_dependencies(path)
    assert str(caught.value) == f"{path}: dependency 'httpx>=0.28' is not pinned with =="


def test_a_complete_sbom_has_no_problem_and_a_summary(pyproject: Path) -> None:
    bom = _bom(
        {"FastAPI": "0.120.1", "pydantic": "2.12.3", "python-jose": "3.5.0", "api_service": "0.1"}
    )
    pins = sbom.pinned_dependencies(pyproject)
    assert sbom.check(bom, pins, "api-service") == []
    assert sbom.summary(bom, ["fastapi", "uvicorn"]) == (
        "fastapi==0.120.1, uvicorn==MISSING; 4 Python and 2 Debian packages"
    )


def test_every_gap_of_an_sbom_is_named(pyproject: Path) -> None:
    bom = _bom({"fastapi": "0.119.0", "pydantic": "2.12.3"}, debian=("libc6",))
    assert sbom.check(bom, sbom.pinned_dependencies(pyproject), "api-service") == [
        "fastapi==0.120.1 is not listed (found: 0.119.0)",
        "python-jose==3.5.0 is not listed (found: nothing)",
        "the service package api-service itself is not listed",
        "the Debian packages (python3.11-minimal, libc6) are not listed",
    ]
    assert sbom.check({"bomFormat": "SPDX"}, {}, "x") == [
        "not a CycloneDX document (bomFormat is not CycloneDX)"
    ]


def test_a_go_binary_sbom_needs_a_go_module() -> None:
    go = {"bomFormat": "CycloneDX", "components": [{"purl": "pkg:golang/github.com/x/y@v1"}]}
    assert sbom.check_go_binary(go) == []
    assert sbom.check_go_binary(_bom({})) == ["no Go module is listed (pkg:golang components)"]
    assert sbom.check_go_binary({}) == ["not a CycloneDX document (bomFormat is not CycloneDX)"]


def test_the_cyclonedx_predicate_is_read_from_the_signed_statements() -> None:
    bom = _bom({"x": "1"})
    text = "\n".join(
        [
            _envelope("https://slsa.dev/provenance/v1", {"a": 1}),
            "",
            _envelope(sbom.CYCLONEDX_PREDICATE, bom),
        ]
    )
    assert sbom.sbom_from_attestations(text) == bom
    with pytest.raises(SbomError, match=r"^no attestation with predicate type https://cyclonedx"):
        sbom.sbom_from_attestations(_envelope("https://slsa.dev/provenance/v1", {}))


def test_check_file_reads_an_sbom_or_an_attestation_and_reports_errors_as_problems(
    tmp_path: Path, pyproject: Path
) -> None:
    bom = _bom(
        {"fastapi": "0.120.1", "pydantic": "2.12.3", "python-jose": "3.5.0", "api-service": "0.1"}
    )
    plain = tmp_path / "sbom.json"
    plain.write_text(json.dumps(bom))
    signed = tmp_path / "attestation.jsonl"
    signed.write_text(_envelope(sbom.CYCLONEDX_PREDICATE, bom) + "\n")
    summary = (
        "fastapi==0.120.1, pydantic==2.12.3, python-jose==3.5.0; 4 Python and 2 Debian packages"
    )
    assert sbom.check_file("sbom", plain, pyproject, "api-service") == ([], summary)
    assert sbom.check_file("attestation", signed, pyproject, "api-service") == ([], summary)
    assert sbom.check_file("sbom", plain, None, "ferretdb") == (
        ["no Go module is listed (pkg:golang components)"],
        "; 4 Python and 2 Debian packages",
    )
    missing = tmp_path / "missing.json"
    problems, text = sbom.check_file("sbom", missing, pyproject, "api-service")
    assert (problems, text) == ([f"[Errno 2] No such file or directory: '{missing}'"], "")
    plain.write_text("{not json")
    problems, _ = sbom.check_file("sbom", plain, pyproject, "api-service")
    assert problems == [
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    ]
