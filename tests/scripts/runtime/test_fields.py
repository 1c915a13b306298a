"""Each supported operator compares as Falco's does; each misuse of one is named."""

from __future__ import annotations

import pytest

from microshop_ci.runtime.fields import compare, operand_problem


@pytest.mark.parametrize(
    ("actual", "op", "operands", "expected"),
    [
        ("/etc/passwd", "pmatch", ("/etc",), True),
        ("/etc", "pmatch", ("/etc/",), True),
        ("/etcetera", "pmatch", ("/etc",), False),
        ("/usr/bin/python3", "startswith", ("/usr/",), True),
        ("/usr/bin/python3", "endswith", ("python3",), True),
        ("/usr/bin/python3", "contains", ("bin/py",), True),
        ("sh", "in", ("bash", "sh"), True),
        ("sh", "!=", ("sh",), False),
        (0, "<", (1,), True),
        (5, "<=", (4,), False),
        (5, ">", (4,), True),
        (5, ">=", (6,), False),
        ("", "exists", (), False),
        ("x", "exists", (), True),
        (None, "!=", ("sh",), False),
    ],
)
def test_compare(
    actual: str | int | None, op: str, operands: tuple[str, ...], expected: bool
) -> None:
    assert compare(actual, op, operands) is expected


@pytest.mark.parametrize(
    ("field", "op", "values", "is_list", "problem"),
    [
        ("fd.sport", "pmatch", ("53",), True, "operator 'pmatch' does not apply to fd.sport"),
        ("proc.name", ">", ("3",), False, "operator '>' does not apply to proc.name"),
        ("user.uid", "contains", ("0",), False, "operator 'contains' does not apply to user.uid"),
        ("proc.name", "startswith", ("a", "b"), True,
         "operator 'startswith' on proc.name takes one value, not a list"),
        ("evt.is_open_write", "=", ("yes",), False,
         "value 'yes' of evt.is_open_write is not true or false"),
        ("proc.name", "intersects", ("a",), True,
         "operator 'intersects' (on proc.name) is outside the supported subset"),
        ("proc.name", "=", ("sh",), False, None),
    ],
)  # fmt: skip
def test_operand_problem(
    field: str, op: str, values: tuple[str, ...], is_list: bool, problem: str | None
) -> None:
    assert operand_problem(field, op, values, is_list) == problem
