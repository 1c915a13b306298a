"""Invalid policy or exceptions: exit 2 with the file and field named, no trace, nothing run."""

from __future__ import annotations

from pathlib import Path

import pytest

from microshop_ci.cli import main as microshop
from microshop_ci.gates.cli import POLICY
from microshop_ci.gates.policy import Policy, load_policy
from microshop_ci.gates.registry import GATES

VALID = {
    "gate": "bandit",
    "id": "B101",
    "target": "x.py",
    "reason": "A reason that is long enough to be read.",
    "owner": "someone",
    "expires": "2999-01-01",
}


def exceptions_yaml(**changes: str | None) -> str:
    entry = {**VALID, **changes}
    lines = [f"    {k}: {v!r}" for k, v in entry.items() if v is not None]
    return "version: 1\nexceptions:\n  -\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": None}, "exceptions.0.reason: Field required"),
        ({"reason": "because"}, "exceptions.0.reason: String should have at least 20 characters"),
        ({"expires": None}, "exceptions.0.expires: Field required"),
        ({"expires": "soon"}, "exceptions.0.expires: Input should be a valid date"),
        ({"owner": None}, "exceptions.0.owner: Field required"),
        ({"gate": "semgrep"}, "exceptions.0.gate: unknown gate 'semgrep'"),
        ({"ticket": "SEC-1"}, "exceptions.0.ticket: Extra inputs are not permitted"),
    ],
)
def test_invalid_exception_is_refused_naming_file_and_field(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    changes: dict[str, str | None],
    field: str,
) -> None:
    path = tmp_path / "exceptions.yaml"
    path.write_text(exceptions_yaml(**changes))
    reports = tmp_path / "reports"
    code = microshop(
        ["gates", "--exceptions", str(path), "--report-dir", str(reports), "--root", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: invalid configuration: {path}: {field}" in err
    assert "Traceback" not in err
    assert not reports.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\ngates: {}\n", "gates.actionlint: missing"),
        ("version: 1\ngates:\n  semgrep: {fail_on: high}\n", "gates.semgrep: unknown gate"),
        ("version: 2\ngates: {}\n", "version: Input should be 1"),
        ("version: 1\ngates: [\n", "not valid YAML"),
    ],
)
def test_invalid_policy_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    code = microshop(
        [
            "gates",
            "--policy",
            str(path),
            "--report-dir",
            str(tmp_path / "r"),
            "--root",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert message in capsys.readouterr().err


def test_bad_threshold_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("version: 1\ngates:\n  bandit: {fail_on: severe}\n")
    assert microshop(["gates", "--policy", str(path), "--root", str(tmp_path)]) == 2
    assert f"{path}: gates.bandit.fail_on: Input should be 'any'" in capsys.readouterr().err


def test_repository_policy_excludes_the_failing_fixtures() -> None:
    policy: Policy = load_policy(POLICY, set(GATES))
    assert policy.excluded("tests/fixtures/gates/bad/services/bad-service/Dockerfile")
    assert not policy.excluded("services/api-service/Dockerfile")


def test_missing_root_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert microshop(["gates", "--root", str(tmp_path / "nope")]) == 2
    assert f"error: --root {tmp_path / 'nope'}: not a directory" in capsys.readouterr().err
