"""Events against a RuleSet: the alerts, in Falco's JSON output shape, with the output rendered."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from microshop_ci.runtime.condition import And, Expr, Not, Or, Test
from microshop_ci.runtime.fields import FIELDS, Kind, Value, compare
from microshop_ci.runtime.rules import OUTPUT_FIELD, Priority, Rule, RuleSet

Event = Mapping[str, Any]
MISSING = "<NA>"  # what Falco prints for a field it could not extract


@dataclass(frozen=True)
class Alert:
    """One rule that matched one event."""

    rule: str
    priority: Priority
    output: str
    output_fields: dict[str, Value | None]
    tags: tuple[str, ...]
    time: str

    def to_json(self) -> dict[str, Any]:
        """Falco's json_output record (rule, priority, output, output_fields, tags, time)."""
        return {
            "rule": self.rule,
            "priority": self.priority.name.capitalize(),
            "output": self.output,
            "output_fields": self.output_fields,
            "tags": list(self.tags),
            "time": self.time,
            "source": "syscall",
        }


def value_of(event: Event, field: str) -> Value | None:
    """The event's value of a field as the field's type; None when absent or unreadable."""
    raw = event.get(field)
    if raw is None:
        return None
    kind = FIELDS[field]
    if kind is Kind.NUMBER:
        try:
            return int(raw)
        except (TypeError, ValueError):
            return None
    if kind is Kind.FLAG:
        return raw if isinstance(raw, bool) else str(raw).lower() == "true"
    return str(raw)


def matches(expr: Expr, event: Event) -> bool:
    """Whether a resolved condition holds for the event."""
    if isinstance(expr, Test):
        return compare(value_of(event, expr.field), expr.op, expr.operands)
    if isinstance(expr, Not):
        return not matches(expr.expr, event)
    if isinstance(expr, And):
        return all(matches(item, event) for item in expr.items)
    if isinstance(expr, Or):
        return any(matches(item, event) for item in expr.items)
    raise TypeError(f"unresolved condition part: {expr!r}")  # rules.load resolves every part


def render(rule: Rule, event: Event) -> tuple[str, dict[str, Value | None]]:
    """The rule's output with every %field replaced, and the fields it names."""
    fields = {name: value_of(event, name) for name in OUTPUT_FIELD.findall(rule.output)}

    def one(match: Any) -> str:
        value = fields[match.group(1)]
        return MISSING if value is None or value == "" else str(value)

    return OUTPUT_FIELD.sub(one, rule.output), fields


def evaluate(rules: RuleSet, event: Event) -> list[Alert]:
    """The alerts one event raises, in rule order."""
    alerts = []
    for rule in rules.rules:
        if matches(rule.condition, event):
            output, fields = render(rule, event)
            time = str(event.get("evt.time", ""))
            alerts.append(Alert(rule.name, rule.priority, output, fields, rule.tags, time))
    return alerts


def evaluate_all(rules: RuleSet, events: Iterable[Event]) -> list[Alert]:
    """The alerts of a stream of events, in order."""
    return [alert for event in events for alert in evaluate(rules, event)]
