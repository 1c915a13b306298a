"""Runs the stages' steps as child processes, with logs, timings and clean cancellation."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from microshop_ci.core.errors import MicroshopError
from microshop_ci.core.tools import spawn, stop_group
from microshop_ci.pipeline.model import Stage, StageResult, Step, StepResult, Verdict

TAIL_LINES = 12
STOP_GRACE_SECONDS = 15.0

Listener = Callable[[str, str | None, str], None]
"""Called with (stage, step or None, event) where event is 'start', a Verdict value, or 'tick'."""


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last non-empty lines of a log file, for a failure message."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


class RunCancelledError(MicroshopError):
    """Raised when the user interrupts the run (Ctrl-C or SIGTERM)."""


class Runner:
    """Runs steps one at a time; interrupts stop the running step's whole process group."""

    def __init__(
        self, log_dir: Path, env: Mapping[str, str], listener: Listener, cwd: Path | None = None
    ) -> None:
        self.log_dir = log_dir
        self.env = dict(env)
        self.cwd = cwd
        self.listener = listener
        self._current: subprocess.Popen[bytes] | None = None

    def run_stage(self, stage: Stage) -> StageResult:
        """Run every step of a stage in order, stopping at the first failure."""
        start = time.monotonic()
        result = StageResult(stage.name, stage.title, Verdict.PASSED, 0.0)
        self.listener(stage.name, None, "start")
        missing = [str(p) for p in stage.needs if not p.exists()]
        if missing:
            result.verdict = Verdict.FAILED
            result.reason = (
                f"stage '{stage.name}' needs {', '.join(missing)}; run the earlier stages first"
            )
        else:
            for step in stage.steps:
                step_result = self.run_step(stage, step)
                result.steps.append(step_result)
                if step_result.verdict is not Verdict.PASSED:
                    result.verdict = step_result.verdict
                    result.reason = (
                        f"step '{step.name}' {step_result.verdict}: {step_result.reason}"
                    )
                    break
        result.seconds = time.monotonic() - start
        self.listener(stage.name, None, result.verdict.value)
        return result

    def run_step(self, stage: Stage, step: Step) -> StepResult:
        """Run one step with its output in LOG_DIR/STAGE/STEP.log."""
        log = self.log_dir / stage.name / f"{step.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.listener(stage.name, step.name, "start")
        start = time.monotonic()
        with log.open("wb") as out:
            out.write(f"$ {' '.join(step.argv)}\n".encode())
            out.flush()
            try:
                code = self._wait(step.argv, out)
            except RunCancelledError:
                seconds = time.monotonic() - start
                self.listener(stage.name, step.name, Verdict.CANCELLED.value)
                return StepResult(step.name, Verdict.CANCELLED, seconds, None, log, "interrupted")
            except FileNotFoundError:
                code = 127
                out.write(f"command not found: {step.argv[0]}\n".encode())
        seconds = time.monotonic() - start
        verdict = Verdict.PASSED if code == 0 else Verdict.FAILED
        reason = "" if code == 0 else self._reason(step, log, code)
        self.listener(stage.name, step.name, verdict.value)
        return StepResult(step.name, verdict, seconds, code, log, reason)

    def _wait(self, argv: Sequence[str], out: BinaryIO) -> int:
        proc = spawn(argv, out=out, env=self.env, cwd=self.cwd)
        self._current = proc
        try:
            while True:
                try:
                    return int(proc.wait(timeout=0.5))
                except subprocess.TimeoutExpired:
                    self.listener("", None, "tick")
        except KeyboardInterrupt as exc:
            self.stop_current()
            raise RunCancelledError from exc
        finally:
            self._current = None

    def stop_current(self) -> None:
        """Terminate the running step's process group: SIGTERM, then SIGKILL after a grace."""
        if self._current is not None:
            stop_group(self._current, STOP_GRACE_SECONDS)

    @staticmethod
    def _reason(step: Step, log: Path, code: int) -> str:
        if step.explain is not None and step.explain.exists():
            explained = step.explain.read_text(errors="replace").strip()
            if explained:
                return f"exit {code}\n{explained}"
        return f"exit {code}\n{tail(log)}"
