"""Our nosec rule: a `# nosec` must name bandit rule ids and give a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from microshop_ci.gates.bandit_gate import nosec_problems


@pytest.mark.parametrize(
    ("line", "refused"),
    [
        ("x = 1  # nosec", True),
        ("x = 1  # nosec B603", True),
        ("x = 1  # nosec: B603", True),
        ("x = 1  # nosec B603 --", True),
        ("x = 1  # NOSEC because I said so", True),
        ("x = 1  # nosec B603 -- argv is a fixed list, no shell", False),
        ("x = 1  # nosec B603, B607 -- git from PATH with fixed arguments", False),
        ("x = 1  # noqa: S603  # nosec B603 -- argv is a fixed list", False),
        ('x = "# nosec"', False),  # in a string, not a comment
    ],
)
def test_nosec_needs_rule_id_and_reason(tmp_path: Path, line: str, refused: bool) -> None:
    source = tmp_path / "m.py"
    source.write_text(f"import os\n{line}\n")
    assert nosec_problems(source) == ([(2, line[line.index("#", 4) :])] if refused else [])
