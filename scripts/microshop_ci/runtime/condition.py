"""Falco condition expressions parsed with lark into a typed AST (And, Or, Not, Check, macros).

The grammar is lark's (a kept, widely used parser library) rather than a hand-written parser:
precedence (not > and > or), parentheses, quoting and exact error positions come from one
declarative grammar below. It accepts every comparison operator Falco has, so that an operator
outside the evaluator's subset is refused by name (rules.py) instead of as a vague syntax error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, VisitError

from microshop_ci.core.errors import UsageError

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr ("or" and_expr)*
?and_expr: not_expr ("and" not_expr)*
?not_expr: "not" not_expr -> negation
         | atom
?atom: "(" or_expr ")"
     | FIELD "exists" -> exists
     | FIELD CMP_OP value -> compare
     | FIELD WORD_OP value_list -> compare_list
     | FIELD WORD_OP value -> compare
     | NAME -> macro
value_list: "(" [value ("," value)*] ")"
?value: QUOTED | BARE
FIELD.3: /[a-z][a-z0-9_]*\.[A-Za-z0-9_.]+(\[[^\]]*\])?/
CMP_OP.2: "==" | "!=" | "<=" | ">=" | "=" | "<" | ">"
WORD_OP.2: "in" | "intersects" | "pmatch" | "contains" | "icontains" | "bcontains"
         | "startswith" | "bstartswith" | "endswith" | "glob" | "iglob" | "regex"
NAME: /[A-Za-z_][A-Za-z0-9_-]*/
QUOTED: /"[^"]*"/ | /'[^']*'/
BARE: /[^\s(),"']+/
%import common.WS
%ignore WS
"""

KEYWORDS = frozenset({"and", "or", "not"})
_PARSER = Lark(GRAMMAR, parser="lalr", lexer="contextual")


@dataclass(frozen=True)
class Check:
    """`field op value(s)`; values is empty for `exists`; a list operand keeps its items."""

    field: str
    op: str
    values: tuple[str, ...] = ()
    is_list: bool = False


@dataclass(frozen=True)
class Test:
    """A resolved Check: list names expanded, operands typed (rules.py makes these)."""

    field: str
    op: str
    operands: tuple[str | int | bool, ...]


@dataclass(frozen=True)
class MacroRef:
    """A bare name in a condition: a macro, resolved by rules.py."""

    name: str


@dataclass(frozen=True)
class Not:
    """`not expr`."""

    expr: Expr


@dataclass(frozen=True)
class And:
    """`a and b and ...`."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    """`a or b or ...`."""

    items: tuple[Expr, ...]


Expr: TypeAlias = Check | Test | MacroRef | Not | And | Or


class ConditionError(UsageError):
    """A condition that does not parse; the message says where and what was found."""


def _text(token: Token) -> str:
    """A value token without its quotes."""
    text = str(token)
    if token.type == "QUOTED":
        return text[1:-1]
    return text


@v_args(inline=True)
class _ToAst(Transformer[Token, Expr]):
    """lark's parse tree to the frozen dataclasses above."""

    def or_expr(self, *items: Expr) -> Expr:
        return Or(tuple(items))

    def and_expr(self, *items: Expr) -> Expr:
        return And(tuple(items))

    def negation(self, expr: Expr) -> Expr:
        return Not(expr)

    def exists(self, field: Token) -> Expr:
        return Check(str(field), "exists")

    def compare(self, field: Token, op: Token, value: Token) -> Expr:
        return Check(str(field), str(op), (_text(value),))

    def compare_list(self, field: Token, op: Token, values: tuple[str, ...]) -> Expr:
        return Check(str(field), str(op), values, is_list=True)

    def value_list(self, *values: Token | None) -> tuple[str, ...]:
        return tuple(_text(v) for v in values if v is not None)

    def macro(self, name: Token) -> Expr:
        if str(name) in KEYWORDS:
            raise ConditionError(f"syntax error at column {name.column}: unexpected {str(name)!r}")
        return MacroRef(str(name))


def parse(text: str) -> Expr:
    """The AST of one condition, or a ConditionError naming the column and what was found."""
    try:
        tree = _PARSER.parse(text)
        return _ToAst().transform(tree)
    except VisitError as err:
        if isinstance(err.orig_exc, ConditionError):
            raise err.orig_exc from None
        raise  # pragma: no cover - the transformer raises nothing else
    except UnexpectedCharacters as err:
        raise ConditionError(
            f"syntax error at column {err.column}: unexpected {err.char!r}"
        ) from None
    except UnexpectedInput as err:
        found = getattr(err, "token", None)
        if found is None or found.type == "$END":
            raise ConditionError("syntax error: unexpected end of condition") from None
        raise ConditionError(
            f"syntax error at column {err.column}: unexpected {str(found)!r}"
        ) from None
    except LarkError as err:  # pragma: no cover - lark's other errors are grammar bugs
        raise ConditionError(f"syntax error: {err}") from None
