"""The scripts in scripts/ are one-line wrappers over `microshop SUBCOMMAND`, kept only where a
workflow, .ci/run, the README's commands or the bootstrap calls them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from microshop_ci.commands import BY_NAME
from microshop_ci.core.paths import REPO_ROOT, SCRIPTS_DIR
from tests.scripts.bootstrap.test_stdlib_only import outside_stdlib

SOURCE = 'source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; '
# [scripts/setup first] microshop|microshop_stdlib SUBCOMMAND [SUBCOMMAND or --option] "$@"
LINE = re.compile(
    re.escape(SOURCE) + r'(?:"\$REPO_ROOT/scripts/setup" && )?'
    r"(?P<how>microshop|microshop_stdlib) (?P<command>[a-z][a-z0-9-]*)"
    r'(?: --?[a-z]+| [a-z][a-z0-9-]*)? "\$@"'
)
# what calls a wrapper: the workflows' and actions' steps, CI's entry point, the README
CALLERS = (".github/workflows/*.yml", ".github/actions/*/action.yml", ".ci/run", "README.md")
# the set-up that runs before the locked environment exists (scripts/setup starts the engine and
# builds the tools the same way; a person without the environment does too)
BOOTSTRAP = frozenset({"setup", "dockerd-up", "tool", "ensure-tools"})
CALLED = re.compile(r"\bscripts/([a-z][a-z0-9-]*)")


def entry_points(folder: Path) -> list[str]:
    """The executable files of folder, by name."""
    return sorted(p.name for p in folder.iterdir() if p.is_file() and os.access(p, os.X_OK))


def called(root: Path) -> set[str]:
    """The scripts/NAME the callers of root name."""
    texts = [p.read_text() for pattern in CALLERS for p in root.glob(pattern)]
    return {name for text in texts for name in CALLED.findall(text)}


def problems(folder: Path, needed: set[str]) -> list[str]:
    """One line per wrapper that is not one documented line over an existing subcommand (the
    standard-library path only for a standard-library module), or that nothing needs."""
    found = []
    for name in entry_points(folder):
        lines = (folder / name).read_text().splitlines()
        code = [line for line in lines[1:] if line.strip() and not line.startswith("#")]
        match = LINE.fullmatch(code[0]) if len(code) == 1 else None
        if lines[:1] != ["#!/usr/bin/env bash"] or not any(x.startswith("#") for x in lines[1:]):
            found.append(f"scripts/{name}: no bash line or no comment saying what it does")
        elif match is None:
            found.append(f"scripts/{name}: not one line calling microshop: {code}")
        elif match["command"] not in BY_NAME:
            found.append(f"scripts/{name}: no subcommand {match['command']!r}")
        elif match["how"] == "microshop_stdlib" and outside_stdlib(
            (BY_NAME[match["command"]].module,)
        ):
            found.append(f"scripts/{name}: {match['command']} needs the locked environment")
        if name not in needed:
            found.append(f"scripts/{name}: no workflow, .ci/run, README or bootstrap calls it")
    return found


def test_every_wrapper_is_one_needed_line_over_a_subcommand() -> None:
    assert problems(SCRIPTS_DIR, called(REPO_ROOT) | BOOTSTRAP) == []


def test_the_entry_points_are_the_workflows_the_readme_and_the_bootstrap_ones() -> None:
    names = entry_points(SCRIPTS_DIR)
    assert len(names) == 34
    assert {"test", "pipeline", "tool", "setup", "build-images", "supply-chain"} <= set(names)
    assert set(names) <= called(REPO_ROOT) | BOOTSTRAP


def _write(folder: Path, name: str, *lines: str) -> None:
    path = folder / name
    path.write_text("\n".join(["#!/usr/bin/env bash", *lines]) + "\n")
    path.chmod(0o755)


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        ((f'{SOURCE}microshop gates "$@"',), None),
        (("# x", f'{SOURCE}microshop gates "$@"'), "no workflow, .ci/run, README or bootstrap"),
        (("# x", f'{SOURCE}py_module microshop_ci.gates.cli "$@"'), "not one line calling"),
        (("# x", f'{SOURCE}microshop gates "$@"', "echo done"), "not one line calling"),
        (("# x", f'{SOURCE}microshop nope "$@"'), "no subcommand 'nope'"),
        (("# x", f'{SOURCE}microshop_stdlib gates "$@"'), "gates needs the locked environment"),
    ],
)
def test_a_wrapper_that_breaks_the_rule_is_named(
    tmp_path: Path, lines: tuple[str, ...], problem: str | None
) -> None:
    _write(tmp_path, "gates", *lines)
    needed = set() if problem and problem.startswith("no workflow") else {"gates"}
    found = problems(tmp_path, needed)
    if problem is None:
        assert found == ["scripts/gates: no bash line or no comment saying what it does"]
    else:
        assert len(found) == 1
        assert found[0].startswith("scripts/gates: ")
        assert problem in found[0]


def test_a_call_in_a_workflow_makes_a_wrapper_needed(tmp_path: Path) -> None:
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "pr.yml").write_text("run: scripts/gates --online\n")
    (tmp_path / "README.md").write_text("`scripts/pipeline` runs the stages\n")
    assert called(tmp_path) == {"gates", "pipeline"}
