"""Falco conditions parse into the typed AST with Falco's precedence; bad syntax is one line."""

from __future__ import annotations

import pytest

from microshop_ci.runtime.condition import And, Check, ConditionError, MacroRef, Not, Or, parse


def test_not_binds_tighter_than_and_and_and_tighter_than_or() -> None:
    assert parse("a or not b and c") == Or(
        (MacroRef("a"), And((Not(MacroRef("b")), MacroRef("c"))))
    )


def test_parentheses_group() -> None:
    assert parse("(a or b) and c") == And((Or((MacroRef("a"), MacroRef("b"))), MacroRef("c")))


def test_comparisons_keep_bare_quoted_and_symbolic_values() -> None:
    assert parse("evt.dir = < and fd.name startswith '/etc/' and user.uid != 0") == And(
        (
            Check("evt.dir", "=", ("<",)),
            Check("fd.name", "startswith", ("/etc/",)),
            Check("user.uid", "!=", ("0",)),
        )
    )


def test_a_list_operand_keeps_its_items_and_exists_has_none() -> None:
    assert parse('proc.name in (apt-get, python3.11, "two words") and fd.sip exists') == And(
        (
            Check("proc.name", "in", ("apt-get", "python3.11", "two words"), is_list=True),
            Check("fd.sip", "exists"),
        )
    )


def test_a_name_that_starts_with_a_keyword_is_a_macro() -> None:
    assert parse("not notable or inbound") == Or((Not(MacroRef("notable")), MacroRef("inbound")))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("evt.type = execve and (proc.name = sh", "syntax error: unexpected end of condition"),
        ("a and and", "syntax error at column 7: unexpected 'and'"),
        ("proc.name = sh)", "syntax error at column 15: unexpected ')'"),
        ("proc.name ~ sh", "syntax error at column 11: unexpected '~'"),
    ],
)
def test_a_syntax_error_says_where_and_what(text: str, message: str) -> None:
    with pytest.raises(ConditionError) as err:
        parse(text)
    assert str(err.value) == message
