"""The pipeline's command line over stand-in stage scripts: verdicts, order, report, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from microshop_ci.cli import main as microshop
from tests.conftest import interruptible_module
from tests.scripts.pipeline.conftest import FakeRepo


def process_alive(pid: int) -> bool:
    """True while pid exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def run(repo: FakeRepo, *args: str) -> tuple[int, Path]:
    report = repo.root / "reports" / "pipeline"
    code = microshop(
        ["pipeline", "--repo", str(repo.root), "--report-dir", str(report), "--plain", *args]
    )
    return code, report


def test_pipeline_passes_when_every_stage_passes(fake_repo: FakeRepo) -> None:
    code, report = run(fake_repo)
    summary = json.loads((report / "summary.json").read_text())
    assert code == 0
    assert summary["verdict"] == "passed"
    assert [s["name"] for s in summary["stages"]] == [
        "checks",
        "gates",
        "build",
        "sign",
        "admission",
        "smoke",
    ]
    assert summary["failed_stage"] is None
    assert (report / "report.html").read_text().count("<tr>") >= 7


def test_pipeline_stops_at_the_failing_stage_and_says_why(fake_repo: FakeRepo) -> None:
    fake_repo.script(
        "gates", 'mkdir -p "$3"; echo "bandit: B602 shell=True" > "$3/summary.md"; exit 1'
    )
    code, report = run(fake_repo)
    summary = json.loads((report / "summary.json").read_text())
    markdown = (report / "summary.md").read_text()
    assert code == 1
    assert summary["failed_stage"] == "gates"
    assert [s["verdict"] for s in summary["stages"]] == [
        "passed",
        "failed",
        "not-run",
        "not-run",
        "not-run",
        "not-run",
    ]
    first_lines = "\n".join(markdown.splitlines()[:8])
    assert "stage `gates`" in first_lines
    assert "B602 shell=True" in first_lines


def test_failure_reason_falls_back_to_the_log_tail(fake_repo: FakeRepo) -> None:
    fake_repo.script("smoke", 'echo "order was not placed: 502"; exit 3')
    code, report = run(fake_repo)
    summary = json.loads((report / "summary.json").read_text())
    smoke = summary["stages"][-1]
    assert code == 1
    assert smoke["verdict"] == "failed"
    assert "exit 3" in smoke["reason"]
    assert "order was not placed: 502" in smoke["reason"]
    log = report / "logs" / "smoke" / "smoke.log"
    assert "order was not placed: 502" in log.read_text()


def test_one_stage_runs_alone_with_stage(fake_repo: FakeRepo) -> None:
    marker = fake_repo.root / "ran"
    fake_repo.script("test", f'echo test >> "{marker}"')
    fake_repo.script("kyverno-test", f'echo kyverno >> "{marker}"')
    run(fake_repo, "--stage", "build")  # writes images.json for admission to read
    code, report = run(fake_repo, "--stage", "admission")
    summary = json.loads((report / "summary.json").read_text())
    assert code == 0
    assert [s["name"] for s in summary["stages"]] == ["admission"]
    assert marker.read_text().split() == ["kyverno"]


def test_a_stage_whose_inputs_are_missing_fails_naming_them(fake_repo: FakeRepo) -> None:
    code, report = run(fake_repo, "--stage", "sign")
    summary = json.loads((report / "summary.json").read_text())
    assert code == 1
    assert "images.json" in summary["stages"][0]["reason"]
    assert "run the earlier stages first" in summary["stages"][0]["reason"]


def test_offline_is_the_default_and_online_is_passed_on(fake_repo: FakeRepo) -> None:
    seen = fake_repo.root / "args"
    fake_repo.script("gates", f'echo "$1 $MICROSHOP_ADVISORY_SOURCE" >> "{seen}"')
    run(fake_repo, "--stage", "gates")
    run(fake_repo, "--stage", "gates", "--online")
    assert seen.read_text().splitlines() == ["--offline offline", "--online online"]


def test_ctrl_c_stops_the_running_step_and_its_children(fake_repo: FakeRepo) -> None:
    child_pid = fake_repo.root / "child.pid"
    fake_repo.script("test", f'sleep 300 & echo $! > "{child_pid}"; wait')
    report = fake_repo.root / "reports" / "pipeline"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3] / "scripts")}
    proc = subprocess.Popen(
        interruptible_module(
            "microshop_ci",
            "pipeline",
            "--repo",
            str(fake_repo.root),
            "--report-dir",
            str(report),
            "--plain",
        ),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while not child_pid.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child_pid.exists(), "the stand-in step never started"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    pid = int(child_pid.read_text())
    assert proc.returncode == 130, out.decode()
    assert not process_alive(pid), f"step child {pid} survived Ctrl-C"
    summary = json.loads((report / "summary.json").read_text())
    assert summary["verdict"] == "cancelled"
    assert summary["stages"][0]["verdict"] == "cancelled"


def test_a_stage_result_is_read_into_the_summary_and_the_headline(fake_repo: FakeRepo) -> None:
    gate = '{"gate": "bandit", "verdict": "passed", "by_severity": {"low": 2}, "excepted": 1, '
    gate += '"note": ""}'
    # gates gets: --offline --report-dir DIR --result FILE
    fake_repo.script("gates", f'echo \'{{"stage": "gates", "gates": [{gate}]}}\' > "$5"')
    code, report = run(fake_repo, "--stage", "gates")
    summary = json.loads((report / "summary.json").read_text())
    assert code == 0
    assert summary["stages"][0]["figures"] == {
        "gates": [
            {"gate": "bandit", "verdict": "passed", "by_severity": {"low": 2}, "excepted": 1,
             "note": ""}
        ]
    }  # fmt: skip
    assert "| gates | passed | 0:00 | bandit: passed (low 2, 1 excepted) |" in (
        (report / "summary.md").read_text()
    )


def test_an_unreadable_stage_result_fails_the_stage_naming_file_and_field(
    fake_repo: FakeRepo,
) -> None:
    fake_repo.script("gates", 'echo \'{"stage": "gates", "gates": [{"gate": 1}]}\' > "$5"')
    code, report = run(fake_repo, "--stage", "gates")
    summary = json.loads((report / "summary.json").read_text())
    assert code == 1
    assert summary["failed_stage"] == "gates"
    assert summary["stages"][0]["reason"] == (
        f"the stage's result is unreadable: {report}/gates/result.json: gates[0].gate: "
        "expected str, got int 1"
    )


def test_a_result_left_by_an_earlier_run_is_not_read_again(fake_repo: FakeRepo) -> None:
    fake_repo.script("gates", 'echo \'{"stage": "gates", "gates": []}\' > "$5"')
    run(fake_repo, "--stage", "gates")
    fake_repo.script("gates", "exit 1")
    code, report = run(fake_repo, "--stage", "gates")
    assert code == 1
    assert not (report / "gates" / "result.json").exists()


def test_the_summary_names_the_run_id_every_stage_labels_its_containers_with(
    fake_repo: FakeRepo,
) -> None:
    seen = fake_repo.root / "label"
    fake_repo.script("gates", f'echo "$MICROSHOP_RUN_LABEL" > {seen}')
    code, report = run(fake_repo, "--stage", "gates")
    summary = json.loads((report / "summary.json").read_text())
    assert code == 0
    assert len(summary["run_id"]) == 12
    assert int(summary["run_id"], 16) >= 0
    assert seen.read_text() == f"org.microshop.pipeline-run={summary['run_id']}\n"
