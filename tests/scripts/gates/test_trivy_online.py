"""Online, Trivy's image vulnerability gate fails closed when its database cannot be downloaded.

The release workflow's gate (`scripts/scan-images --online`) ran through act here and passed with
trivy-vuln "not run": a release whose runner could not download the DB would have gone to GHCR
unscanned. Offline (this machine, no DB) "not run" stays a reported, non-failing outcome.
"""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import pytest

from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.gates.context import Context
from microshop_ci.gates.evaluate import evaluate
from microshop_ci.gates.model import RunStatus, Verdict
from microshop_ci.gates.policy import load_policy
from microshop_ci.gates.registry import GATES
from microshop_ci.gates.trivy_gates import VULN_DB_MISSING, VULN_DB_UNREACHABLE, TrivyVulnGate

POLICY = REPO_ROOT / "policies" / "gates" / "policy.yaml"
IMAGE = "127.0.0.1:5000/api-service@sha256:" + "0" * 64


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def no_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty Trivy cache and a DB repository nobody serves (the same on GitHub and here)."""
    address = f"127.0.0.1:{closed_port()}"
    monkeypatch.setenv("TRIVY_CACHE_DIR", str(tmp_path / "trivy-cache"))
    monkeypatch.setenv("TRIVY_DB_REPOSITORY", f"{address}/trivy-db")
    return address


def context(tmp_path: Path, mode: str) -> Context:
    return Context(
        root=REPO_ROOT, mode=mode,  # type: ignore[arg-type]
        policy=load_policy(POLICY, set(GATES)), work_dir=tmp_path, images=(IMAGE,),
    )  # fmt: skip


def test_online_vuln_gate_errors_and_fails_the_run_when_the_db_cannot_be_downloaded(
    tmp_path: Path, no_db: str
) -> None:
    ctx = context(tmp_path, "online")
    run = TrivyVulnGate().run(ctx)
    assert run.status == RunStatus.ERROR
    assert run.note.startswith(VULN_DB_UNREACHABLE)
    assert f"http://{no_db}/v2/" in run.note  # Trivy's own reason is kept
    result = evaluate("trivy-vuln", run, ctx.policy.gates["trivy-vuln"], (), dt.date(2026, 11, 30))
    assert result.verdict == Verdict.ERROR
    assert result.fails_run


def test_offline_vuln_gate_without_a_db_is_not_run_and_does_not_fail_the_run(
    tmp_path: Path, no_db: str
) -> None:
    ctx = context(tmp_path, "offline")
    run = TrivyVulnGate().run(ctx)
    assert (run.status, run.note) == (RunStatus.NOT_RUN, VULN_DB_MISSING)
    result = evaluate("trivy-vuln", run, ctx.policy.gates["trivy-vuln"], (), dt.date(2026, 11, 30))
    assert result.verdict == Verdict.NOT_RUN
    assert not result.fails_run
