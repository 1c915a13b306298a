"""Exceptions: one suppresses exactly its finding, an expired one fails, a stale one is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scripts.gates.conftest import GatesRun, run_gates

EXCEPTIONS = """\
version: 1
exceptions:
  - gate: bandit
    id: B506
    target: services/bad-service/src/**
    reason: Fixture input is trusted in this test; proves one finding is suppressed.
    owner: security team
    expires: 2999-12-31
  - gate: bandit
    id: B999
    target: "*"
    reason: Matches nothing at all; the run must report it as stale.
    owner: security team
    expires: 2999-12-31
  - gate: zizmor
    id: unpinned-uses
    target: .github/workflows/bad.yml
    reason: Expired long ago; the gate must fail and name this exception.
    owner: platform team
    expires: 2020-01-31
"""


@pytest.fixture(scope="module")
def excepted_run(bad_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> GatesRun:
    folder = tmp_path_factory.mktemp("exceptions")
    (folder / "exceptions.yaml").write_text(EXCEPTIONS)
    return run_gates(
        folder / "reports",
        "--root", str(bad_tree), "--exceptions", str(folder / "exceptions.yaml"),
        "--only", "bandit", "zizmor",
    )  # fmt: skip


def findings(run: GatesRun, gate: str, bucket: str) -> set[tuple[str, str]]:
    return {(f["rule_id"], f["location"]) for f in run.gate(gate)[bucket]}


def test_exception_suppresses_exactly_its_finding(
    excepted_run: GatesRun, bad_run: GatesRun
) -> None:
    app = "services/bad-service/src/bad_service/app.py"
    assert findings(excepted_run, "bandit", "excepted") == {("B506", f"{app}:16")}
    assert findings(excepted_run, "bandit", "blocking") == findings(
        bad_run, "bandit", "blocking"
    ) - {("B506", f"{app}:16")}
    (excepted,) = excepted_run.gate("bandit")["excepted"]
    assert excepted["reason"].startswith("Fixture input is trusted")
    assert "| bandit | 0 | 2 | 1 | 1 | 0 | 0 | 1 | ❌ failed |" in excepted_run.markdown


def test_excepted_finding_is_marked_suppressed_in_sarif(excepted_run: GatesRun) -> None:
    results = excepted_run.sarif("bandit")["runs"][0]["results"]
    suppressed = [r for r in results if r.get("suppressions")]
    assert [r["ruleId"] for r in suppressed] == ["B506"]
    assert suppressed[0]["suppressions"][0]["kind"] == "external"


def test_expired_exception_fails_its_gate_and_is_named(excepted_run: GatesRun) -> None:
    gate = excepted_run.gate("zizmor")
    assert gate["verdict"] == "failed"
    assert gate["expired_exceptions"] == [
        "zizmor:unpinned-uses on .github/workflows/bad.yml"
        " (owner platform team, expires 2020-01-31)"
    ]
    assert "exception expired on 2020-01-31: zizmor:unpinned-uses" in excepted_run.markdown
    assert ("unpinned-uses", ".github/workflows/bad.yml:8") in findings(
        excepted_run, "zizmor", "blocking"
    )


def test_stale_exception_is_reported(excepted_run: GatesRun) -> None:
    assert excepted_run.gate("bandit")["stale_exceptions"] == [
        "bandit:B999 on * (owner security team, expires 2999-12-31)"
    ]
    assert "### Stale exceptions (matched nothing in this run)" in excepted_run.markdown
    assert "- bandit:B999 on * (owner security team" in excepted_run.markdown
