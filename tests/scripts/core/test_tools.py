"""The one tool runner, pinned-tool lookup, pinned versions and docker() helper."""

from __future__ import annotations

import os
import signal
import stat
import sys
import time
from pathlib import Path

import pytest

from microshop_ci.core import pins, tools
from microshop_ci.core.paths import REPO_ROOT, SCRIPTS_DIR


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_the_repository_root_holds_the_scripts() -> None:
    assert (REPO_ROOT / "pyproject.toml").is_file()
    assert (SCRIPTS_DIR / "tool-versions.env").is_file()


def test_run_tool_returns_the_output_of_an_accepted_exit_code(tmp_path: Path) -> None:
    tool = _script(tmp_path, "t", 'echo "out $FOO"; exit 3')
    result = tools.run_tool([str(tool)], ok_codes=(0, 3), env={"FOO": "bar"})
    assert (result.returncode, result.stdout) == (3, "out bar\n")


def test_run_tool_names_the_tool_and_its_stderr_on_a_refused_code(tmp_path: Path) -> None:
    tool = _script(tmp_path, "t", "echo broken >&2; exit 4")
    with pytest.raises(tools.ToolError, match=r"^t exited 4: broken$"):
        tools.run_tool([str(tool)])
    assert tools.run([str(tool)]).returncode == 4


def test_run_tool_says_when_a_tool_is_missing_or_too_slow(tmp_path: Path) -> None:
    with pytest.raises(tools.ToolError, match=r"^/nonexistent/tool not found"):
        tools.run_tool(["/nonexistent/tool"])
    slow = _script(tmp_path, "slow", "sleep 5")
    with pytest.raises(tools.ToolError, match=r"^slow did not finish within 0 s$"):
        tools.run_tool([str(slow)], timeout=0.2)


def test_a_pinned_tool_can_be_overridden_by_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MICROSHOP_TOOL_KUBE_LINTER", "/opt/kube-linter")
    tools.pinned_tool.cache_clear()
    try:
        assert tools.pinned_tool("kube-linter") == "/opt/kube-linter"
    finally:
        tools.pinned_tool.cache_clear()


def test_an_unknown_pinned_tool_is_a_tool_error() -> None:
    tools.pinned_tool.cache_clear()
    with pytest.raises(tools.ToolError, match=r"^scripts/tool no-such-tool failed: .*unknown tool"):
        tools.pinned_tool("no-such-tool")


def test_docker_returns_stdout_and_names_the_failed_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _script(
        tmp_path,
        "docker",
        'if [ "$1" = ok ]; then echo " fine "; exit 0; fi; echo nope >&2; exit 1',
    )
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert tools.docker("ok") == "fine"
    assert tools.docker("rm", "-f", "x", check=False) == ""
    with pytest.raises(tools.ToolError, match=r"^docker rm -f failed: nope$"):
        tools.docker("rm", "-f", "x")


def test_uv_binary_prefers_the_uv_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV", "/opt/uv")
    assert tools.uv_binary() == "/opt/uv"


def test_pins_reads_key_values_and_names_a_missing_key(tmp_path: Path) -> None:
    env = tmp_path / "versions.env"
    env.write_text("# comment\n\nA=1\n B = two \n")
    assert pins.pins(env) == {"A": "1", "B": "two"}
    assert pins.pin("COSIGN_VERSION").startswith("v")
    with pytest.raises(pins.PinError, match=r"^NOPE is not set in scripts/tool-versions.env$"):
        pins.pin("NOPE")
    assert issubclass(pins.PinError, tools.ToolError)


def test_python_module_starts_this_interpreter_on_the_repositorys_scripts(tmp_path: Path) -> None:
    assert tools.python_module("microshop_ci.smoke", "--images", "f") == (
        sys.executable,
        "-m",
        "microshop_ci.smoke",
        "--images",
        "f",
    )
    env = tools.module_env(tmp_path, {"PYTHONPATH": "/elsewhere", "A": "1"})
    assert env == {"PYTHONPATH": f"{tmp_path / 'scripts'}{os.pathsep}/elsewhere", "A": "1"}
    assert tools.module_env(tmp_path, {})["PYTHONPATH"] == str(tmp_path / "scripts")


def test_run_visible_returns_the_exit_code_and_names_a_missing_tool(tmp_path: Path) -> None:
    tool = _script(tmp_path, "t", "exit 5")
    assert tools.run_visible([str(tool)]) == 5
    with pytest.raises(tools.ToolError, match=r"^/nonexistent/t not found"):
        tools.run_visible(["/nonexistent/t"])


def _alive(pid: int) -> bool:
    """True while pid exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_stop_group_ends_a_spawned_child_and_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    tool = _script(tmp_path, "t", f'sleep 300 & echo $! > "{pid_file}"; wait')
    with (tmp_path / "out.log").open("wb") as out:
        proc = tools.spawn([str(tool)], out=out, env=dict(os.environ))
        deadline = time.monotonic() + 30
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(pid_file.read_text())
        tools.stop_group(proc, grace=5)
    assert proc.returncode == -signal.SIGTERM
    deadline = time.monotonic() + 10  # the group's signal reaches the child, which then ends
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), f"the step's child {child} survived"
    tools.stop_group(proc, grace=5)  # a finished child: nothing to do
