"""Each stage's typed result: one frozen dataclass per stage, one writer and one reader.

A stage's module writes its result with `write_result(path, result)` (the pipeline passes
`--result REPORT_DIR/STAGE/result.json`); the orchestrator and the report read it back with
`read_result(path, cls)`, which checks every field's type and raises ResultFileError naming the
file and the field. Nobody reads another stage's own files by guessing keys.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from microshop_ci.core.errors import MicroshopError
from microshop_ci.core.verdict import Verdict

RESULT_FILE = "result.json"


class ResultFileError(MicroshopError, ValueError):
    """A result file is missing, not JSON, of another stage, or has a field of the wrong type."""


@dataclass(frozen=True)
class PytestCounts:
    """pytest's outcome counts."""

    passed: int
    failed: int
    skipped: int


@dataclass(frozen=True)
class ChecksResult:
    """checks: lint, type-check and tests."""

    stage: ClassVar[str] = "checks"
    tests: PytestCounts | None
    coverage_percent: float | None

    def headline(self) -> str:
        """One line for people."""
        parts = []
        if self.tests is not None:
            t = self.tests
            parts.append(f"{t.passed} passed, {t.failed} failed, {t.skipped} skipped")
        if self.coverage_percent is not None:
            parts.append(f"coverage {self.coverage_percent}%")
        return "; ".join(parts)


@dataclass(frozen=True)
class GateSummary:
    """One security gate: its verdict, its non-zero finding counts by severity, its exceptions."""

    gate: str
    verdict: Verdict
    by_severity: Mapping[str, int]
    excepted: int
    note: str

    def headline(self) -> str:
        """`bandit: passed (high 1, 2 excepted)`."""
        counts = ", ".join(f"{k} {v}" for k, v in self.by_severity.items() if v) or "0 findings"
        excepted = f", {self.excepted} excepted" if self.excepted else ""
        return f"{self.gate}: {self.verdict.value} ({counts}{excepted})"


@dataclass(frozen=True)
class GatesResult:
    """gates: the security gates over the tree."""

    stage: ClassVar[str] = "gates"
    gates: tuple[GateSummary, ...]

    def headline(self) -> str:
        """One line for people."""
        return "; ".join(g.headline() for g in self.gates)


@dataclass(frozen=True)
class ImageSummary:
    """One pushed image: its reference by digest and its size in bytes (when measured)."""

    ref: str
    size: int | None

    def headline(self) -> str:
        """`12.3 MB api-service@sha256:0123456789ab`."""
        name, _, digest = self.ref.partition("@")
        short = f"{name.rsplit('/', 1)[-1]}@{digest[:19]}" if digest else self.ref
        size = f"{self.size / 1_000_000:.1f} MB" if self.size is not None else "size unknown"
        return f"{size} {short}"


@dataclass(frozen=True)
class BuildResult:
    """build: the images pushed by digest, and the image gates run over them."""

    stage: ClassVar[str] = "build"
    images: Mapping[str, ImageSummary]
    gates: tuple[GateSummary, ...]

    def headline(self) -> str:
        """One line for people."""
        parts = [g.headline() for g in self.gates]
        parts += [f"{name} {image.headline()}" for name, image in sorted(self.images.items())]
        return "; ".join(parts)


@dataclass(frozen=True)
class SignedImage:
    """What the sign stage proved for one service."""

    sbom_components: int
    signature_verified: bool
    attestation_verified: bool


@dataclass(frozen=True)
class SignResult:
    """sign: SBOM, signature and attestation per service, verified."""

    stage: ClassVar[str] = "sign"
    services: Mapping[str, SignedImage]

    def headline(self) -> str:
        """One line for people."""

        def verified(ok: bool) -> str:
            return "verified" if ok else "NOT verified"

        return "; ".join(
            f"{name}: SBOM {s.sbom_components} components, signature "
            f"{verified(s.signature_verified)}, attestation {verified(s.attestation_verified)}"
            for name, s in sorted(self.services.items())
        )


@dataclass(frozen=True)
class AdmissionResult:
    """admission: Kyverno's results per overlay, and whether the unsigned control was refused."""

    stage: ClassVar[str] = "admission"
    overlays: Mapping[str, Mapping[str, int]]
    control_refused: bool

    def headline(self) -> str:
        """One line for people."""
        parts = [
            f"{name}: " + ", ".join(f"{n} {result}" for result, n in sorted(counts.items()))
            for name, counts in self.overlays.items()
        ]
        refused = "refused" if self.control_refused else "NOT refused"
        parts.append(f"unsigned control image {refused}")
        return "; ".join(parts)


@dataclass(frozen=True)
class SmokeResult:
    """smoke: the signed images together, one real order."""

    stage: ClassVar[str] = "smoke"
    order_placed: bool
    summary: str

    def headline(self) -> str:
        """One line for people."""
        return self.summary


class StageOutcome(Protocol):
    """What every stage result offers the orchestrator."""

    stage: ClassVar[str]

    def headline(self) -> str:
        """One line of key figures."""
        ...


RESULT_TYPES: dict[str, type[Any]] = {
    cls.stage: cls
    for cls in (ChecksResult, GatesResult, BuildResult, SignResult, AdmissionResult, SmokeResult)
}

R = TypeVar("R")


def to_json(result: object) -> Any:
    """A result (or any part of one) as plain JSON values."""
    if is_dataclass(result) and not isinstance(result, type):
        return {f.name: to_json(getattr(result, f.name)) for f in fields(result)}
    if isinstance(result, Verdict):
        return result.value
    if isinstance(result, Mapping):
        return {str(k): to_json(v) for k, v in result.items()}
    if isinstance(result, tuple | list):
        return [to_json(v) for v in result]
    return result


def write_result(path: Path, result: StageOutcome) -> None:
    """Write a stage's result: {"stage": NAME, ...its fields in order}, with a final newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"stage": result.stage, **to_json(result)}
    path.write_text(json.dumps(data, indent=2) + "\n")


def read_result(path: Path, cls: type[R]) -> R:
    """Read and check a stage's result file; ResultFileError names the file and the field."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ResultFileError(f"{path}: cannot read the result ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ResultFileError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    stage = getattr(cls, "stage", None)
    if not isinstance(data, dict):
        raise ResultFileError(f"{path}: expected an object with the {stage} stage's fields")
    if data.get("stage") != stage:
        raise ResultFileError(f"{path}: stage is {data.get('stage')!r}, expected {stage!r}")
    body = {k: v for k, v in data.items() if k != "stage"}
    try:
        value = _parse(cls, body, "")
    except _FieldError as exc:
        raise ResultFileError(f"{path}: {exc.where or 'result'}: {exc.problem}") from None
    return typing.cast(R, value)


class _FieldError(MicroshopError):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


def _describe(value: object) -> str:
    return f"{type(value).__name__} {json.dumps(value)[:60]}"


def _parse(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return _parse_union(typing.get_args(tp), value, where)
    if is_dataclass(tp) and isinstance(tp, type):
        return _parse_dataclass(tp, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise _FieldError(where, f"expected a list, got {_describe(value)}")
        item = typing.get_args(tp)[0]
        return tuple(_parse(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict):
        if not isinstance(value, dict):
            raise _FieldError(where, f"expected an object, got {_describe(value)}")
        item = typing.get_args(tp)[1]
        return {k: _parse(item, v, _join(where, k)) for k, v in value.items()}
    return _parse_scalar(tp, value, where)


def _parse_union(options: tuple[Any, ...], value: Any, where: str) -> Any:
    if value is None and type(None) in options:
        return None
    problems: list[_FieldError] = []
    for option in (o for o in options if o is not type(None)):
        try:
            return _parse(option, value, where)
        except _FieldError as exc:
            problems.append(exc)
    raise problems[-1]


def _parse_dataclass(tp: type[Any], value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise _FieldError(where, f"expected an object, got {_describe(value)}")
    hints = typing.get_type_hints(tp)
    names = [f.name for f in fields(tp)]
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise _FieldError(_join(where, unknown[0]), "unknown field")
    kwargs = {}
    for name in names:
        if name not in value:
            raise _FieldError(_join(where, name), "missing")
        kwargs[name] = _parse(hints[name], value[name], _join(where, name))
    return tp(**kwargs)


def _parse_scalar(tp: Any, value: Any, where: str) -> Any:
    if tp is Verdict:
        try:
            return Verdict(value)
        except ValueError:
            allowed = ", ".join(v.value for v in Verdict)
            raise _FieldError(where, f"{value!r} is not a verdict ({allowed})") from None
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp in (str, int, bool) and type(value) is tp:
        return value
    raise _FieldError(where, f"expected {tp.__name__}, got {_describe(value)}")


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name
