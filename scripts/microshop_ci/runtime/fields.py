"""The subset of Falco's fields and operators the evaluator supports, and how each compares.

Field names and meanings are Falco's own (its `falco --list` of the syscall source); an event is
one JSON object keyed by these names, as the sensor writes it (sensor/events.py).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class Kind(enum.Enum):
    """How a field's value compares."""

    TEXT = "text"
    NUMBER = "number"
    FLAG = "flag"


FIELDS: dict[str, Kind] = {
    "evt.type": Kind.TEXT,
    "evt.dir": Kind.TEXT,
    "evt.is_open_read": Kind.FLAG,
    "evt.is_open_write": Kind.FLAG,
    "proc.name": Kind.TEXT,
    "proc.exepath": Kind.TEXT,
    "proc.pname": Kind.TEXT,
    "proc.pid": Kind.NUMBER,
    "proc.ppid": Kind.NUMBER,
    "user.uid": Kind.NUMBER,
    "fd.name": Kind.TEXT,
    "fd.sip": Kind.TEXT,
    "fd.sport": Kind.NUMBER,
    "container.id": Kind.TEXT,
    "container.full_id": Kind.TEXT,
    "container.name": Kind.TEXT,
    "container.image.repository": Kind.TEXT,
    "container.image.digest": Kind.TEXT,
    "k8s.pod.name": Kind.TEXT,
    "k8s.ns.name": Kind.TEXT,
}

LIST_OPS = frozenset({"in", "pmatch"})
TEXT_OPS = frozenset({"startswith", "endswith", "contains"})
EQUALITY_OPS = frozenset({"=", "==", "!="})
ORDER_OPS = frozenset({"<", "<=", ">", ">="})
SUPPORTED_OPS = LIST_OPS | TEXT_OPS | EQUALITY_OPS | ORDER_OPS | {"exists"}
FLAG_WORDS = {"true": True, "false": False}

Value = str | int | bool


def operand_problem(field: str, op: str, values: tuple[str, ...], is_list: bool) -> str | None:
    """Why `field op values` is outside the subset (one phrase), or None when it is supported."""
    kind = FIELDS.get(field)
    if kind is None:
        return f"field {field!r} is outside the supported subset"
    if op not in SUPPORTED_OPS:
        return f"operator {op!r} (on {field}) is outside the supported subset"
    return _shape_problem(field, kind, op, is_list) or _value_problem(field, kind, values)


def _shape_problem(field: str, kind: Kind, op: str, is_list: bool) -> str | None:
    """A supported operator used on the wrong kind of field or operand."""
    if op in LIST_OPS and not is_list:
        return f"operator {op!r} on {field} needs a parenthesised list"
    if op not in LIST_OPS and is_list:
        return f"operator {op!r} on {field} takes one value, not a list"
    text_only = op in TEXT_OPS or op == "pmatch"
    if (text_only and kind is not Kind.TEXT) or (op in ORDER_OPS and kind is not Kind.NUMBER):
        return f"operator {op!r} does not apply to {field}"
    return None


def _value_problem(field: str, kind: Kind, values: tuple[str, ...]) -> str | None:
    """An operand that is not of the field's type."""
    for value in values:
        if kind is Kind.NUMBER and not value.lstrip("-").isdigit():
            return f"value {value!r} of {field} is not a number"
        if kind is Kind.FLAG and value not in FLAG_WORDS:
            return f"value {value!r} of {field} is not true or false"
    return None


def typed(field: str, value: str) -> Value:
    """An operand (checked by operand_problem) as the field's type."""
    kind = FIELDS[field]
    if kind is Kind.NUMBER:
        return int(value)
    if kind is Kind.FLAG:
        return FLAG_WORDS[value]
    return value


def _path_under(path: str, prefixes: Iterable[str]) -> bool:
    """Falco's pmatch: the path is one of the prefixes or lies below one of them."""
    bases = [p.rstrip("/") for p in prefixes]
    return any(path.rstrip("/") == b or path.startswith(b + "/") for b in bases)


def compare(actual: Value | None, op: str, operands: tuple[Value, ...]) -> bool:
    """One check against an event's value; a field the event lacks matches nothing (as Falco)."""
    if op == "exists":
        return actual is not None and actual != ""
    if actual is None:
        return False
    outcome: bool
    if op in ("=", "=="):
        outcome = actual == operands[0]
    elif op == "!=":
        outcome = actual != operands[0]
    elif op == "in":
        outcome = actual in operands
    elif op == "pmatch":
        outcome = _path_under(str(actual), (str(o) for o in operands))
    elif op == "startswith":
        outcome = str(actual).startswith(str(operands[0]))
    elif op == "endswith":
        outcome = str(actual).endswith(str(operands[0]))
    elif op == "contains":
        outcome = str(operands[0]) in str(actual)
    else:
        outcome = _ordered(int(actual), op, int(operands[0]))
    return outcome


def _ordered(actual: int, op: str, operand: int) -> bool:
    """The numeric comparisons."""
    return {
        "<": actual < operand,
        "<=": actual <= operand,
        ">": actual > operand,
        ">=": actual >= operand,
    }[op]
