"""The fix scripts/tool applies to act's source: a failed self-hosted step drains its output."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from microshop_ci.cli import main as microshop
from microshop_ci.core.pins import pin
from microshop_ci.gha.act_output import DRAIN_FIRST, EARLY_RETURN, FILE, SourceError, fix

# the shape of act v0.2.89's HostEnvironment.exec around cmd.Run (abridged)
EXEC = (
    "func (e *HostEnvironment) exec() error {\n"
    + EARLY_RETURN
    + "\t\twriter.AutoStop = true\n\t}\n\t<-logctx.Done()\n\treturn err\n}\n"
)


def module(tmp_path: Path, text: str) -> Path:
    (tmp_path / FILE).parent.mkdir(parents=True)
    (tmp_path / FILE).write_text(text)
    return tmp_path


def test_a_failed_command_now_waits_for_its_output_like_a_successful_one(tmp_path: Path) -> None:
    fix(module(tmp_path, EXEC))
    fixed = (tmp_path / FILE).read_text()
    assert "return err\n\t}" not in fixed  # no early return left
    assert fixed == EXEC.replace(EARLY_RETURN, DRAIN_FIRST)
    assert fixed.index("cmd.Run()") < fixed.index("<-logctx.Done()") < fixed.index("return err")


def test_a_source_without_the_early_return_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module(tmp_path, EXEC.replace(EARLY_RETURN, DRAIN_FIRST))  # already fixed, or act changed
    with pytest.raises(SourceError, match=r"the early return after cmd\.Run"):
        fix(tmp_path)
    assert microshop(["act-output", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: {tmp_path / FILE}: the early return after cmd.Run() is not there exactly once; "
        "check whether this act version still loses a failing step's output\n"
    )


def test_a_folder_that_is_not_act_is_refused(tmp_path: Path) -> None:
    assert microshop(["act-output", str(tmp_path)]) == 1


def test_the_pinned_act_source_has_exactly_the_lines_the_fix_expects(tmp_path: Path) -> None:
    if shutil.which("go") is None:
        pytest.fail("go is not installed: run scripts/setup")
    found = subprocess.run(
        ["go", "mod", "download", "-json", f"github.com/nektos/act@{pin('ACT_VERSION')}"],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    source = Path(json.loads(found.stdout)["Dir"])
    copy = tmp_path / "act"
    (copy / FILE).parent.mkdir(parents=True)
    shutil.copy(source / FILE, copy / FILE)
    fix(copy)
    assert (copy / FILE).read_text().count(DRAIN_FIRST) == 1
