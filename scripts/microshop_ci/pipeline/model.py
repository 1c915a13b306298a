"""Plain data for the pipeline: stages, steps and their results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from microshop_ci.core.result import StageOutcome
from microshop_ci.core.verdict import Verdict

__all__ = ["RunResult", "Stage", "StageResult", "Step", "StepResult", "Verdict"]


@dataclass(frozen=True)
class Step:
    """One command of a stage; its output goes to the stage's log folder."""

    name: str
    argv: tuple[str, ...]
    # A step whose failure message is better read from a file than from the log tail.
    explain: Path | None = None


@dataclass(frozen=True)
class Stage:
    """A named group of steps that pass or fail together, in order."""

    name: str
    title: str
    steps: tuple[Step, ...]
    # Files the stage needs from an earlier stage (checked before it runs).
    needs: tuple[Path, ...] = ()


@dataclass
class StepResult:
    """What running one step gave."""

    name: str
    verdict: Verdict
    seconds: float
    exit_code: int | None
    log: Path
    reason: str = ""


@dataclass
class StageResult:
    """What running one stage gave, with the typed result the stage wrote (core.result)."""

    name: str
    title: str
    verdict: Verdict
    seconds: float
    steps: list[StepResult] = field(default_factory=list)
    reason: str = ""
    outcome: StageOutcome | None = None


@dataclass
class RunResult:
    """The whole run: every stage's result, in order."""

    started: str
    seconds: float
    advisory_source: str
    stages: list[StageResult]
    report_dir: Path
    run_id: str = ""  # the value of the container label every stage of this run sets

    @property
    def verdict(self) -> Verdict:
        """Passed only when every stage that was asked for passed."""
        if any(s.verdict is Verdict.CANCELLED for s in self.stages):
            return Verdict.CANCELLED
        if all(s.verdict is Verdict.PASSED for s in self.stages):
            return Verdict.PASSED
        return Verdict.FAILED

    @property
    def first_failure(self) -> StageResult | None:
        """The first stage that did not pass, if any."""
        return next((s for s in self.stages if s.verdict is not Verdict.PASSED), None)
