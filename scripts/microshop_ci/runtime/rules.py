"""A Falco rule file loaded: lists and macros resolved, each rule checked against the subset.

Anything the evaluator cannot honour (a YAML or condition syntax error, an unknown macro or list,
a field, operator or rule key outside the subset) is refused with one line that names the file,
the rule (or macro, or list) and the problem: a rule is never dropped silently.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from microshop_ci.core.errors import MicroshopError, UsageError
from microshop_ci.runtime.condition import (
    And,
    Check,
    ConditionError,
    Expr,
    MacroRef,
    Not,
    Or,
    Test,
    parse,
)
from microshop_ci.runtime.fields import FIELDS, operand_problem, typed

RULE_KEYS = frozenset({"rule", "desc", "condition", "output", "priority", "tags", "enabled"})
# `source` is accepted only as Falco's default, `syscall`.
OPTIONAL_RULE_KEYS = frozenset({"source"})
OUTPUT_FIELD = re.compile(r"%([A-Za-z][A-Za-z0-9_]*\.[A-Za-z0-9_.]+(?:\[[^\]]*\])?)")
# An operand written like a list's name (snake_case with an underscore) must name a list; quote
# it to mean the literal text. Falco would compare it as text, which hides a misspelt list.
LIST_NAME = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")


class Priority(enum.IntEnum):
    """Falco's priorities, most severe last."""

    DEBUG = 0
    INFORMATIONAL = 1
    NOTICE = 2
    WARNING = 3
    ERROR = 4
    CRITICAL = 5
    ALERT = 6
    EMERGENCY = 7

    @classmethod
    def parse(cls, word: str) -> Priority | None:
        """Falco's spelling, any case (INFO is INFORMATIONAL), or None."""
        upper = word.strip().upper()
        return cls.__members__.get("INFORMATIONAL" if upper == "INFO" else upper)


@dataclass(frozen=True)
class Rule:
    """One enabled rule with its condition resolved to Tests."""

    name: str
    condition: Expr
    output: str
    priority: Priority
    tags: tuple[str, ...]


@dataclass(frozen=True)
class RuleSet:
    """The rules of one file, in file order."""

    path: Path
    rules: tuple[Rule, ...]


class RuleFileError(UsageError):
    """A rule file the evaluator refuses; the message is one line naming file, item, problem."""


class _ItemError(MicroshopError):
    """A problem inside one item; load() adds the file and the item's name."""


@dataclass
class _Scope:
    """What the file defined so far: lists (expanded) and macros (resolved)."""

    lists: dict[str, tuple[str, ...]]
    macros: dict[str, Expr]

    def expand(self, items: tuple[str, ...]) -> tuple[str, ...]:
        """List names replaced by their items; an unknown list-like name is a problem."""
        out: list[str] = []
        for item in items:
            if item in self.lists:
                out.extend(self.lists[item])
            elif LIST_NAME.match(item):
                raise _ItemError(f"unknown list {item!r}")
            else:
                out.append(item)
        return tuple(out)

    def resolve(self, expr: Expr) -> Expr:
        """Macros inlined, lists expanded, each check validated and typed."""
        if isinstance(expr, MacroRef):
            if expr.name not in self.macros:
                raise _ItemError(f"unknown macro {expr.name!r}")
            return self.macros[expr.name]
        if isinstance(expr, Not):
            return Not(self.resolve(expr.expr))
        if isinstance(expr, And | Or):
            return type(expr)(tuple(self.resolve(item) for item in expr.items))
        if isinstance(expr, Check):
            values = self.expand(expr.values) if expr.is_list else expr.values
            problem = operand_problem(expr.field, expr.op, values, expr.is_list)
            if problem:
                raise _ItemError(problem)
            return Test(expr.field, expr.op, tuple(typed(expr.field, v) for v in values))
        return expr

    def condition(self, text: object) -> Expr:
        """A condition string parsed and resolved."""
        if not isinstance(text, str) or not text.strip():
            raise _ItemError("condition must be a non-empty string")
        try:
            return self.resolve(parse(" ".join(text.split())))
        except ConditionError as err:
            raise _ItemError(f"condition: {err}") from None


def _text_list(value: object, what: str) -> tuple[str, ...]:
    """A YAML sequence of scalars as strings."""
    if not isinstance(value, list) or any(isinstance(v, dict | list) for v in value):
        raise _ItemError(f"{what} must be a list of values")
    return tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in value)


def _rule(item: dict[str, Any], scope: _Scope) -> Rule | None:
    """One rule checked and compiled; None when it is disabled."""
    unknown = sorted(set(item) - RULE_KEYS - OPTIONAL_RULE_KEYS)
    if unknown:
        raise _ItemError(f"key {unknown[0]!r} is outside the supported subset")
    missing = [k for k in ("desc", "condition", "output", "priority") if k not in item]
    if missing:
        raise _ItemError(f"missing {missing[0]!r}")
    if item.get("source", "syscall") != "syscall":
        raise _ItemError(f"source {item['source']!r} is outside the supported subset (syscall)")
    priority = Priority.parse(str(item["priority"]))
    if priority is None:
        raise _ItemError(f"unknown priority {item['priority']!r}")
    output = " ".join(str(item["output"]).split())
    for field in OUTPUT_FIELD.findall(output):
        if field not in FIELDS:
            raise _ItemError(f"output field {field!r} is outside the supported subset")
    condition = scope.condition(item["condition"])
    if item.get("enabled", True) is False:
        return None
    tags = _text_list(item.get("tags", []), "tags")
    return Rule(str(item["rule"]), condition, output, priority, tags)


def _item(item: object, scope: _Scope, rules: list[Rule]) -> None:
    """Add one top-level item of the file to the scope or the rules."""
    if not isinstance(item, dict):
        raise _ItemError("each item must be a mapping (list, macro, rule)")
    if "list" in item:
        if set(item) != {"list", "items"}:
            raise _ItemError("a list has exactly the keys list and items")
        scope.lists[str(item["list"])] = scope.expand(_text_list(item["items"], "items"))
    elif "macro" in item:
        if set(item) != {"macro", "condition"}:
            raise _ItemError("a macro has exactly the keys macro and condition")
        scope.macros[str(item["macro"])] = scope.condition(item["condition"])
    elif "rule" in item:
        rule = _rule(item, scope)
        if rule is not None:
            rules.append(rule)
    elif set(item) != {"required_engine_version"}:
        raise _ItemError(f"unknown item with keys {sorted(item)}")


def _label(item: object) -> str:
    """How a message names an item: `rule 'X'`, `macro 'y'`, `list 'z'` or `item N`."""
    if isinstance(item, dict):
        for kind in ("rule", "macro", "list"):
            if kind in item:
                return f"{kind} {str(item[kind])!r}"
    return "item"


def load(path: Path, shown: str | None = None) -> RuleSet:
    """The file's enabled rules, or a RuleFileError naming the file (as `shown`, else its path),
    the item and the problem."""
    name = shown or str(path)
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as err:
        raise RuleFileError(f"{name}: cannot be read: {err.strerror}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise RuleFileError(f"{name}: not valid YAML{where}: {problem}") from None
    if not isinstance(document, list):
        raise RuleFileError(f"{name}: a rule file is a YAML list of lists, macros and rules")
    scope = _Scope({}, {})
    rules: list[Rule] = []
    for index, item in enumerate(document, start=1):
        try:
            _item(item, scope, rules)
        except _ItemError as err:
            label = _label(item)
            label = f"item {index}" if label == "item" else label
            raise RuleFileError(f"{name}: {label}: {err}") from None
    names = [r.name for r in rules]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise RuleFileError(f"{name}: rule {duplicate!r}: defined twice")
    return RuleSet(path, tuple(rules))
