"""The `microshop` program: its subcommands, its one error line and exit codes, its paths."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from microshop_ci import cli
from microshop_ci.commands import BY_NAME, COMMANDS, GROUPS
from microshop_ci.core.errors import MicroshopError, ToolError, UsageError
from microshop_ci.core.paths import REPO_ROOT, SCRIPTS_DIR


def stand_in(
    monkeypatch: pytest.MonkeyPatch,
    run: Callable[[argparse.Namespace], object],
    configure: Callable[[argparse.ArgumentParser], None] | None = None,
) -> list[argparse.Namespace]:
    """Subcommand `gates` runs `run` instead (and takes `--where PATH` and pass-through)."""
    seen: list[argparse.Namespace] = []
    module = types.ModuleType("stand_in")

    def default_configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--where", type=Path)

    def run_command(args: argparse.Namespace) -> int:
        seen.append(args)
        return int(run(args))

    module.configure = configure or default_configure  # type: ignore[attr-defined]
    module.run_command = run_command  # type: ignore[attr-defined]
    real = importlib.import_module
    monkeypatch.setattr(
        cli.importlib,
        "import_module",
        lambda name: module if name == BY_NAME["gates"].module else real(name),
    )
    return seen


def fail(error: BaseException) -> Callable[[argparse.Namespace], object]:
    def run(_args: argparse.Namespace) -> int:
        raise error

    return run


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (MicroshopError("the registry did not answer"), 1),
        (ToolError("trivy exited 3"), 1),
        (UsageError("--images: no such file"), 2),
        (KeyboardInterrupt(), 130),
    ],
)
def test_an_error_is_one_line_and_its_exit_code(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: BaseException,
    code: int,
) -> None:
    stand_in(monkeypatch, fail(error))
    assert cli.main(["gates"]) == code
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {str(error) or 'interrupted'}\n"


def test_a_usage_error_is_exit_2_naming_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["registry", "up", "--fast"]) == 2
    assert capsys.readouterr() == (
        "",
        "error: microshop registry: unrecognized arguments: --fast "
        "(see microshop registry --help)\n",
    )
    assert cli.main(["no-such-command"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: microshop: argument COMMAND: invalid choice: 'no-such-command'")
    assert err.count("\n") == 1
    assert cli.main([]) == 2
    assert capsys.readouterr().err == (
        "error: microshop: the following arguments are required: COMMAND (see microshop --help)\n"
    )


def test_a_bug_is_not_hidden_behind_the_error_line(monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in(monkeypatch, fail(ZeroDivisionError("a bug")))
    with pytest.raises(ZeroDivisionError, match="a bug"):
        cli.main(["gates"])


def test_help_lists_every_subcommand_under_its_group(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for group, title in GROUPS:
        assert f"\n{group} ({title}):\n" in out
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    names = [c.name for c in COMMANDS]
    assert [n for n in listed if n in BY_NAME] == names
    assert len(names) == len(set(names)) == 48
    assert "130  interrupted (Ctrl-C)" in out


@pytest.mark.parametrize("name", [c.name for c in COMMANDS])
def test_every_subcommand_has_its_own_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: microshop {name} ")
    assert BY_NAME[name].summary in out


def test_a_path_is_read_from_where_the_user_stands_and_the_command_runs_from_the_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cwd: list[Path] = []
    seen = stand_in(monkeypatch, lambda _args: cwd.append(Path.cwd()) or 0)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["gates", "--where", "reports/x.json"]) == 0
    assert seen[0].where == tmp_path / "reports" / "x.json"
    assert cwd == [REPO_ROOT]
    assert Path.cwd() == tmp_path  # given back when the command returns


def test_arguments_pass_through_only_where_the_subcommand_takes_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--no-cluster", action="store_true")
        parser.set_defaults(extra_args=[])

    seen = stand_in(monkeypatch, lambda _args: 0, configure)
    assert cli.main(["gates", "-m", "not slow", "--no-cov", "--no-cluster", "tests/x.py"]) == 0
    assert (seen[0].no_cluster, seen[0].extra_args) == (
        True,
        ["-m", "not slow", "--no-cov", "tests/x.py"],
    )
    assert cli.main(["gates"]) == 0
    assert seen[1].extra_args == []
    assert cli.main(["tool-archive", "unpack", "a.tar", "-m", "x"]) == 2
    assert "unrecognized arguments: -m x" in capsys.readouterr().err


def test_the_program_imports_only_the_standard_library_and_the_chosen_module() -> None:
    probe = (
        "import sys; from microshop_ci import cli; code = cli.main(sys.argv[1:]); "
        "names = {m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names); "
        "print(sorted(names), sorted(m for m in sys.modules if m.startswith('microshop_ci.')))"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe, "registry", "addr"],
        env={"PYTHONPATH": str(SCRIPTS_DIR), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    printed = result.stdout.splitlines()[-1]
    assert printed.startswith("['__main__', 'microshop_ci'] [")
    assert "'microshop_ci.core.registry'" in printed
    assert "'microshop_ci.gates" not in printed


def _run(program: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MICROSHOP_REGISTRY": "127.0.0.1:5999"}
    return subprocess.run(
        [str(program), *args], capture_output=True, text=True, check=False, timeout=60, env=env,
        cwd=cwd,
    )  # fmt: skip


def test_the_console_script_is_the_program() -> None:
    program = Path(sys.executable).with_name("microshop")
    result = _run(program, "registry", "addr")
    assert (result.returncode, result.stdout, result.stderr) == (0, "127.0.0.1:5999\n", "")
    usage = _run(program, "registry", "start")
    assert usage.returncode == 2
    assert usage.stderr.startswith("error: microshop registry: argument action: invalid choice")
    assert "Traceback" not in usage.stderr


def test_a_wrapper_reaches_its_subcommand_from_any_folder(tmp_path: Path) -> None:
    result = _run(SCRIPTS_DIR / "registry", "addr", cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "127.0.0.1:5999\n", "")
