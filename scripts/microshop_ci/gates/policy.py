"""The gates' policy (thresholds per gate) and dated exceptions, validated strictly."""

from __future__ import annotations

import datetime as dt
import fnmatch
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from microshop_ci.core.errors import MicroshopError
from microshop_ci.gates.model import Confidence, Finding, Severity

Threshold = Literal["any", "info", "low", "medium", "high", "critical"]
ConfidenceWord = Literal["low", "medium", "high"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=20)]


class ConfigError(MicroshopError):
    """A policy or exceptions file is invalid; the message names the file and the field."""

    exit_code = 2  # bad input: a usage error


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GatePolicy(_Strict):
    """Threshold and options of one gate."""

    fail_on: Threshold
    min_confidence: ConfidenceWord | None = None
    require_fix: bool = False
    required: bool = True

    def blocks(self, finding: Finding) -> bool:
        """Whether the finding meets this gate's failing threshold."""
        if self.require_fix and not finding.fixed_version:
            return False
        if (
            self.min_confidence
            and finding.confidence is not None
            and finding.confidence < Confidence[self.min_confidence.upper()]
        ):
            return False
        if self.fail_on == "any" or finding.severity == Severity.UNKNOWN:
            return True
        return finding.severity >= Severity[self.fail_on.upper()]


class Policy(_Strict):
    """policies/gates/policy.yaml."""

    version: Literal[1]
    exclude: tuple[Text, ...] = ()
    gates: dict[str, GatePolicy]

    def excluded(self, relpath: str) -> bool:
        """Whether a repository-relative path falls under an `exclude` glob."""
        return any(
            fnmatch.fnmatch(relpath, pattern) or relpath.startswith(pattern.rstrip("*/") + "/")
            for pattern in self.exclude
        )


class GateException(_Strict):
    """One accepted finding: what, where, why, who, until when."""

    gate: Text
    id: Text
    target: Text
    reason: Reason
    owner: Text
    expires: dt.date

    def matches(self, finding: Finding) -> bool:
        """Same gate, rule or advisory id (or alias), and target glob."""
        return (
            finding.gate == self.gate
            and (finding.rule_id == self.id or self.id in finding.aliases)
            and (fnmatch.fnmatch(finding.target, self.target) or finding.target == self.target)
        )

    def expired(self, today: dt.date) -> bool:
        """An exception is valid through its expiry date."""
        return today > self.expires

    @property
    def label(self) -> str:
        """How reports name it."""
        return (
            f"{self.gate}:{self.id} on {self.target} (owner {self.owner}, expires {self.expires})"
        )


class ExceptionsFile(_Strict):
    """policies/gates/exceptions.yaml."""

    version: Literal[1]
    exceptions: tuple[GateException, ...] = ()


Model = TypeVar("Model", bound=BaseModel)


def _load(path: Path, model: type[Model]) -> Model:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}"
            for e in err.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None


def load_policy(path: Path, known_gates: set[str]) -> Policy:
    """Read and validate the policy; every gate named must be a known gate."""
    policy = _load(path, Policy)
    for name in policy.gates:
        if name not in known_gates:
            raise ConfigError(f"{path}: gates.{name}: unknown gate (known: {sorted(known_gates)})")
    for name in sorted(known_gates - set(policy.gates)):
        raise ConfigError(f"{path}: gates.{name}: missing (every gate needs a threshold)")
    return policy


def load_exceptions(path: Path, known_gates: set[str]) -> tuple[GateException, ...]:
    """Read and validate the exceptions; each must name a known gate."""
    exceptions = _load(path, ExceptionsFile).exceptions
    for index, exception in enumerate(exceptions):
        if exception.gate not in known_gates:
            raise ConfigError(
                f"{path}: exceptions.{index}.gate: unknown gate {exception.gate!r} "
                f"(known: {sorted(known_gates)})"
            )
    return exceptions
