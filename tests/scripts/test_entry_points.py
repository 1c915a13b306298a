"""Every entry point in scripts/ is one documented line that starts one module, one of two ways."""

from __future__ import annotations

import importlib.util
import os
import re

import pytest

from microshop_ci.core.paths import SCRIPTS_DIR

SOURCE = 'source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; '
# [scripts/setup first] [cd to the repository] py_module|py_stdlib MODULE [SUBCOMMAND] "$@"
LINE = re.compile(
    re.escape(SOURCE) + r'(?:"\$REPO_ROOT/scripts/setup" && )?(?:cd "\$REPO_ROOT" && )?'
    r"(?P<how>py_module|py_stdlib) (?P<module>microshop_ci(?:\.[a-z_0-9]+)+)"
    r'(?: --?[a-z]+| [a-z][a-z0-9-]*)? "\$@"'
)
ENTRY_POINTS = sorted(
    p.name for p in SCRIPTS_DIR.iterdir() if p.is_file() and os.access(p, os.X_OK)
)


def test_there_are_entry_points_to_check() -> None:
    assert len(ENTRY_POINTS) >= 35
    assert {"test", "pipeline", "tool", "setup", "build-images", "supply-chain"} <= set(
        ENTRY_POINTS
    )


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_the_entry_point_is_one_documented_line_over_one_module(name: str) -> None:
    lines = (SCRIPTS_DIR / name).read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    comments = [line for line in lines[1:] if line.startswith("#")]
    code = [line for line in lines[1:] if line.strip() and not line.startswith("#")]
    assert len(comments) >= 1, f"scripts/{name} says nothing about what it does"
    assert len(code) == 1, f"scripts/{name} has {len(code)} code lines: {code}"
    match = LINE.fullmatch(code[0])
    assert match, f"scripts/{name}: {code[0]}"
    module = match["module"]
    assert importlib.util.find_spec(module) is not None, f"scripts/{name}: no module {module}"
