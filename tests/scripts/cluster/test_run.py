"""cluster.run.run: core.tools.run_tool with the cluster code's shared log and step names."""

from __future__ import annotations

from pathlib import Path

import pytest

from microshop_ci.cluster.run import run
from microshop_ci.core.gobuild import BuildError


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "tool"
    path.write_text(f"#!/usr/bin/env bash\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_stdout_is_returned_and_the_line_and_stderr_are_appended_to_the_log(
    tmp_path: Path,
) -> None:
    tool = script(tmp_path, 'echo "out $1"; echo "err $1" >&2; cat')
    log = tmp_path / "logs" / "kind.log"
    assert run([tool, "one"], step="first", log=log, stdin="in ✔\n".encode()) == "out one\nin ✔\n"
    assert run([tool, "two"], step="second", log=log, env={"X": "1"}) == "out two\n"
    assert log.read_text() == f"$ {tool} one\nerr one\n$ {tool} two\nerr two\n"


def test_a_failure_names_the_step_its_exit_code_and_the_log(tmp_path: Path) -> None:
    tool = script(tmp_path, "echo partial; echo why >&2; exit 3")
    log = tmp_path / "kind.log"
    with pytest.raises(BuildError) as failed:
        run([tool], step="kubectl apply the policies", log=log)
    assert str(failed.value) == f"kubectl apply the policies failed (exit 3; log: {log})"
    assert log.read_text() == f"$ {tool}\nwhy\n"


def test_a_missing_command_is_a_build_error_naming_the_step(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    with pytest.raises(BuildError, match=r"^helm install failed \(.*/nope not found "):
        run([missing, "install"], step="helm install", log=tmp_path / "kind.log")


def test_without_a_log_the_line_and_stderr_go_to_this_process_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    tool = script(tmp_path, "echo out; echo err >&2")
    assert run([tool], step="step", log=None, cwd=tmp_path) == "out\n"
    captured = capfd.readouterr()
    assert captured.err == f"$ {tool}\nerr\n"
    assert captured.out == ""
