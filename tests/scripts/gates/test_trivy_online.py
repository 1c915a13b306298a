"""Online, Trivy's image vulnerability gate fails closed when its database cannot be downloaded.

The release workflow's gate (`scripts/scan-images --online`) ran through act here and passed with
trivy-vuln "not run": a release whose runner could not download the DB would have gone to GHCR
unscanned. Offline (this machine, no DB) "not run" stays a reported, non-failing outcome.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.core.tools import pinned_tool
from microshop_ci.gates.context import Context
from microshop_ci.gates.evaluate import evaluate
from microshop_ci.gates.model import RunStatus, Severity, Verdict
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


REPORT = {
    "Results": [
        {
            "Target": "debian 12.12",
            "Vulnerabilities": [
                {
                    "VulnerabilityID": "CVE-2026-0001",
                    "PkgName": "libc6",
                    "InstalledVersion": "2.36-9",
                    "FixedVersion": "2.36-10",
                    "Severity": "HIGH",
                    "Title": "a heap overflow",
                    "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2026-0001",
                },
                {"VulnerabilityID": "CVE-2026-0002", "Severity": "LOW"},
            ],
        },
        {"Target": "Python", "Vulnerabilities": None},
    ]
}


@pytest.fixture
def fake_trivy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A trivy stand-in (MICROSHOP_TOOL_TRIVY) with a downloaded DB: it logs its arguments and
    answers `image` with REPORT; `--download-db-only` fails when FAIL_DB is set."""
    cache = tmp_path / "trivy-cache"
    (cache / "db").mkdir(parents=True)
    (cache / "db" / "trivy.db").write_text("db")
    report = tmp_path / "report.json"
    report.write_text(json.dumps(REPORT))
    log = tmp_path / "trivy.log"
    trivy = tmp_path / "trivy"
    trivy.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> {log}\n'
        'case "$*" in\n'
        '  --version) echo "Version: 0.74.0" ;;\n'
        '  *--download-db-only*) [[ -z "${FAIL_DB:-}" ]] || { echo "no route" >&2; exit 1; } ;;\n'
        f"  image*) cat {report} ;;\n"
        "esac\n"
    )
    trivy.chmod(0o755)
    monkeypatch.setenv("TRIVY_CACHE_DIR", str(cache))
    monkeypatch.setenv("MICROSHOP_TOOL_TRIVY", str(trivy))
    monkeypatch.delenv("FAIL_DB", raising=False)
    pinned_tool.cache_clear()
    yield log
    pinned_tool.cache_clear()


def test_the_vuln_gate_reports_each_vulnerability_with_its_fix(
    tmp_path: Path, fake_trivy: Path
) -> None:
    run = TrivyVulnGate().run(context(tmp_path, "online"))
    assert (run.status, run.tool_version) == (RunStatus.RAN, "0.74.0")
    assert [
        (f.rule_id, f.severity, f.target, f.message, f.path, f.fixed_version) for f in run.findings
    ] == [
        (
            "CVE-2026-0001",
            Severity.HIGH,
            "libc6",
            f"libc6 2.36-9 in {IMAGE}: a heap overflow",
            f"{IMAGE}:debian 12.12",
            "2.36-10",
        ),
        (
            "CVE-2026-0002",
            Severity.LOW,
            "unknown",
            f"unknown  in {IMAGE}: ",
            f"{IMAGE}:debian 12.12",
            None,
        ),
    ]
    assert run.findings[0].help_uri == "https://avd.aquasec.com/nvd/cve-2026-0001"
    assert fake_trivy.read_text().splitlines() == [
        "--version",
        "image --quiet --download-db-only",
        "image --quiet --format json --scanners vuln --skip-db-update --skip-java-db-update "
        f"--image-src docker,remote {IMAGE}",
    ]


def test_the_vuln_gate_reads_an_image_tarball_and_skips_without_images(
    tmp_path: Path, fake_trivy: Path
) -> None:
    tarball = tmp_path / "image.tar"
    tarball.write_text("tar")
    ctx = context(tmp_path, "offline")
    run = TrivyVulnGate().run(dataclasses.replace(ctx, images=(str(tarball),)))
    assert run.status == RunStatus.RAN
    assert fake_trivy.read_text().splitlines()[-1].endswith(f"--input {tarball}")
    skipped = TrivyVulnGate().run(dataclasses.replace(ctx, images=()))
    assert (skipped.status, skipped.note) == (RunStatus.SKIPPED, "skipped: no --image given")


def test_an_unreachable_db_online_is_an_error_naming_trivys_reason(
    tmp_path: Path, fake_trivy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL_DB", "1")
    run = TrivyVulnGate().run(context(tmp_path, "online"))
    assert run.status == RunStatus.ERROR
    assert run.note == f"{VULN_DB_UNREACHABLE} (trivy exited 1: no route)"
