"""The checks stage (scripts/test): its checks in order, the first failure named, its result."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from microshop_ci.checks import cli
from microshop_ci.cli import main as microshop
from microshop_ci.cli import parse
from microshop_ci.core.result import ChecksResult, PytestCounts, read_result


@pytest.fixture(autouse=True)
def off_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test describes a run off CI unless it passes its own env (GitHub sets CI=true)."""
    monkeypatch.delenv("CI", raising=False)


def _split(*argv: str) -> tuple[bool, Path | None, list[str]]:
    args = parse(["test", *argv])
    return args.no_cluster, args.result, args.extra_args


def test_the_command_line_splits_cluster_result_and_pytest_arguments(tmp_path: Path) -> None:
    assert _split() == (False, None, [])
    assert _split("--no-cluster") == (True, None, [])
    assert _split("tests/x.py", "-q") == (False, None, ["tests/x.py", "-q"])
    assert _split("--no-cov", "-m", "slow or docker") == (
        False,
        None,
        ["--no-cov", "-m", "slow or docker"],
    )
    result = tmp_path / "r.json"
    assert _split("--result", str(result), "-m", "not slow") == (False, result, ["-m", "not slow"])


def test_the_checks_run_in_order_with_both_coverage_floors() -> None:
    labels = [label for label, _ in cli.commands(["-q"])]
    assert labels == [
        "ruff check",
        "ruff format --check",
        "mypy (strict)",
        "pytest",
        "coverage floor: services/* 90%",
        "coverage floor: scripts/microshop_ci/* 83%",
    ]
    argv = dict(cli.commands(["-q"]))
    assert argv["pytest"][:3] == (sys.executable, "-m", "pytest")
    assert argv["pytest"][-1] == "-q"
    assert argv["coverage floor: services/* 90%"][-3:] == (
        "--include=services/*",
        "--fail-under=90",
        "--format=total",
    )
    assert argv["coverage floor: scripts/microshop_ci/* 83%"][-2] == "--fail-under=83"


def test_the_whole_suite_builds_every_pinned_tool_before_pytest() -> None:
    """On a new machine no test may pay a cold tool build inside its timeout."""
    commands = cli.commands([])
    labels = [label for label, _ in commands]
    assert labels[2:6] == [
        "mypy (strict)",
        "pinned tools (scripts/tool --all)",
        "local Sigstore (Fulcio, Rekor, Trillian)",
        "pytest",
    ]
    assert dict(commands)["pinned tools (scripts/tool --all)"] == (
        sys.executable,
        "-m",
        "microshop_ci",
        "tool",
        "--all",
    )
    assert dict(commands)["local Sigstore (Fulcio, Rekor, Trillian)"] == (
        sys.executable,
        "-m",
        "microshop_ci",
        "sigstore-build",
    )
    assert "pinned tools (scripts/tool --all)" not in dict(cli.commands(["-q"]))


@pytest.mark.parametrize(
    ("env", "prebuilt"),
    [
        ({"CI": "true"}, True),  # GitHub Actions, on every runner
        ({"CI": "1"}, True),
        ({"CI": "false"}, False),
        ({"CI": ""}, False),
        ({}, False),
    ],
)
def test_a_selection_on_ci_builds_every_pinned_tool_before_pytest(
    env: dict[str, str], prebuilt: bool
) -> None:
    """GitHub's checks job runs a selection (`-m "not slow and not docker"`): its tests must not
    build their tools inside their timeouts either."""
    labels = [label for label, _ in cli.commands(["-m", "not slow and not docker"], env=env)]
    if prebuilt:
        assert labels[2:6] == [
            "mypy (strict)",
            "pinned tools (scripts/tool --all)",
            "local Sigstore (Fulcio, Rekor, Trillian)",
            "pytest",
        ]
    else:
        assert labels[2:4] == ["mypy (strict)", "pytest"]


def test_the_whole_suite_holds_the_pipeline_code_to_90_percent() -> None:
    labels = [label for label, _ in cli.commands([])]
    assert labels[-2:] == [
        "coverage floor: services/* 90%",
        "coverage floor: scripts/microshop_ci/* 90%",
    ]


def test_the_first_failing_check_stops_the_run_and_the_result_is_still_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[tuple[str, ...]] = []

    def run_visible(argv: tuple[str, ...], **_: object) -> int:
        ran.append(tuple(argv))
        if "pytest" in argv:
            junit = next(a for a in argv if a.startswith("--junitxml="))
            Path(junit.split("=", 1)[1]).write_text(
                '<testsuite tests="4" failures="1" errors="0" skipped="1"></testsuite>'
            )
            return 1
        return 0

    monkeypatch.setattr(cli, "run_visible", run_visible)
    monkeypatch.setattr(cli, "COVERAGE_XML", tmp_path / "coverage.xml")
    result = tmp_path / "checks" / "result.json"
    result.parent.mkdir()
    assert microshop(["test", "--result", str(result), "-m", "not slow"]) == 1
    assert [a[2] if a[1] == "-m" else Path(a[0]).name for a in ran] == [
        "ruff",
        "ruff",
        "mypy",
        "pytest",
    ]
    assert f"--junitxml={tmp_path / 'checks' / 'junit.xml'}" in ran[-1]
    assert capsys.readouterr().err.endswith("error: pytest failed (output above)\n")
    assert read_result(result, ChecksResult) == ChecksResult(PytestCounts(2, 1, 1), None)


def test_without_pytest_arguments_the_cluster_run_follows(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[tuple[str, ...]] = []

    def run_visible(argv: tuple[str, ...], **_: object) -> int:
        ran.append(tuple(argv))
        return 0

    monkeypatch.setattr(cli, "run_visible", run_visible)
    assert microshop(["test"]) == 0
    assert ran[-1] == (sys.executable, "-m", "microshop_ci", "cluster", "e2e")
    ran.clear()
    assert microshop(["test", "--no-cluster"]) == 0
    assert "cluster" not in ran[-1]


def test_without_coverage_no_floor_runs() -> None:
    """GitHub's slow-tests job (`scripts/test --no-cov -m "slow or docker"`) measures nothing: a
    floor over no data would fail it."""
    labels = [label for label, _ in cli.commands(["--no-cov", "-m", "slow or docker"])]
    assert labels == ["ruff check", "ruff format --check", "mypy (strict)", "pytest"]
    assert [label for label, _ in cli.commands(["-m", "not slow"])][-1] == (
        "coverage floor: scripts/microshop_ci/* 83%"
    )
