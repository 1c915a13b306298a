"""The pinned uv: one install into the user cache from hashed requirements, then reused by
scripts/lib.sh's uv_bin and core.tools.uv_binary alike."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from microshop_ci.cli import main as microshop
from microshop_ci.core import tools, uv
from microshop_ci.core.cache import cache_root
from microshop_ci.core.paths import SCRIPTS_DIR

REQUIREMENTS = "uv==1.2.3 \\\n    --hash=sha256:00ff\n"


def _requirements(tmp_path: Path, text: str = REQUIREMENTS) -> Path:
    path = tmp_path / "requirements-bootstrap.txt"
    path.write_text(text)
    return path


def test_the_version_is_the_uv_pin_of_the_requirements(tmp_path: Path) -> None:
    assert uv.pinned_version(_requirements(tmp_path)) == "1.2.3"
    broken = _requirements(tmp_path, "pip==24.0\n")
    with pytest.raises(uv.UvError) as caught:
        uv.pinned_version(broken)
    assert str(caught.value) == f"{broken} has no `uv==VERSION` line"


def test_uv_is_installed_once_into_the_cache_with_hashes_required(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    requirements = _requirements(tmp_path)
    venv = tmp_path / "cache" / "tools" / "uv" / "1.2.3"
    steps: list[list[str]] = []

    def run(argv: Sequence[str]) -> None:
        steps.append(list(argv))
        if argv[1] == "install":  # pip: puts uv into the venv
            (venv / "bin").mkdir(parents=True)
            (venv / "bin" / "uv").write_text("")
            (venv / "bin" / "uv").chmod(0o755)

    path = uv.ensure_uv(tmp_path / "cache", requirements, run, python="/usr/bin/python3")
    assert path == venv / "bin" / "uv"
    assert steps == [
        ["/usr/bin/python3", "-m", "venv", str(venv)],
        [
            f"{venv}/bin/pip", "install", "--quiet", "--require-hashes", "--no-deps",
            "-r", str(requirements),
        ],
    ]  # fmt: skip
    assert capsys.readouterr().err.endswith(f"] installing uv 1.2.3 into {venv}\n")
    assert uv.ensure_uv(tmp_path / "cache", requirements, run) == path
    assert len(steps) == 2  # cached: nothing run the second time


def test_an_install_that_leaves_no_uv_is_an_error(tmp_path: Path) -> None:
    venv = tmp_path / "cache" / "tools" / "uv" / "1.2.3"
    with pytest.raises(uv.UvError) as caught:
        uv.ensure_uv(tmp_path / "cache", _requirements(tmp_path), lambda argv: None)
    assert str(caught.value) == f"pip installed no uv at {venv}/bin/uv"


def test_a_failed_install_step_names_the_step() -> None:
    with pytest.raises(uv.UvError) as caught:
        uv._run([sys.executable, "-c", "raise SystemExit(3)"])
    assert str(caught.value) == f"{sys.executable} -c raise SystemExit(3) exited 3"
    with pytest.raises(uv.UvError, match=r"^no-such-python failed: "):
        uv._run(["no-such-python", "-m", "venv"])


def test_lib_sh_uv_bin_and_uv_binary_name_the_same_cached_uv(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = cache_root() / "tools" / "uv" / uv.pinned_version() / "bin" / "uv"
    assert uv.ensure_uv() == expected
    monkeypatch.delenv("UV", raising=False)
    assert tools.uv_binary() == str(expected)
    shell = subprocess.run(
        ["bash", "-c", f'source "{SCRIPTS_DIR}/lib.sh" && uv_bin'],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MICROSHOP_CACHE": str(cache_root())},
    )
    assert shell.stdout == f"{expected}\n"


def test_uv_binary_turns_a_failed_install_into_a_tool_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> Path:
        raise uv.UvError("pip installed no uv at /x")

    monkeypatch.delenv("UV", raising=False)
    monkeypatch.setattr(tools, "ensure_uv", broken)
    with pytest.raises(tools.ToolError, match=r"^pip installed no uv at /x$"):
        tools.uv_binary()


def test_main_prints_the_path_and_refuses_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert microshop(["uv"]) == 0
    assert capsys.readouterr().out == f"{uv.ensure_uv()}\n"
    assert microshop(["uv", "--x"]) == 2
    assert capsys.readouterr().err == (
        "error: microshop uv: unrecognized arguments: --x (see microshop uv --help)\n"
    )
