"""Progress display: a live table on a terminal, one plain line per event elsewhere."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from microshop_ci.pipeline.model import Verdict

STYLE = {
    Verdict.PASSED.value: "green",
    Verdict.FAILED.value: "bold red",
    Verdict.CANCELLED.value: "yellow",
    Verdict.SKIPPED.value: "dim",
    Verdict.NOT_RUN.value: "dim",
    "running": "cyan",
    "waiting": "dim",
}


def fmt_seconds(seconds: float) -> str:
    """0:42 or 12:05 style elapsed time."""
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


class Progress:
    """Receives runner events and shows them; use as a context manager."""

    def __init__(self, stages: Sequence[str], plain: bool, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.plain = plain
        self.started = time.monotonic()
        self.status: dict[str, str] = dict.fromkeys(stages, "waiting")
        self.step: dict[str, str] = dict.fromkeys(stages, "")
        self.stage_start: dict[str, float] = {}
        self.stage_seconds: dict[str, float] = {}
        self._live: Live | None = None

    def __enter__(self) -> Progress:
        if not self.plain:
            console = Console(file=self.stream)
            self._live = Live(self._table(), console=console, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(None, None, None)

    def __call__(self, stage: str, step: str | None, event: str) -> None:
        """Runner listener: (stage, step, 'start' | verdict | 'tick')."""
        now = time.monotonic()
        if event == "tick":
            pass
        elif step is None and event == "start":
            self.status[stage] = "running"
            self.stage_start[stage] = now
            self._line(f"stage {stage}: started")
        elif step is None:
            self.status[stage] = event
            self.stage_seconds[stage] = now - self.stage_start.get(stage, now)
            self.step[stage] = ""
            self._line(f"stage {stage}: {event} ({fmt_seconds(self.stage_seconds[stage])})")
        elif event == "start":
            self.step[stage] = step
            self._line(f"  {stage} > {step}")
        elif event != Verdict.PASSED.value:
            self._line(f"  {stage} > {step}: {event}")
        if self._live is not None:
            self._live.update(self._table())

    def _line(self, text: str) -> None:
        if self.plain:
            print(f"[{fmt_seconds(time.monotonic() - self.started)}] {text}", file=self.stream)
            self.stream.flush()

    def _table(self) -> Table:
        table = Table(title=f"MicroShop pipeline  {fmt_seconds(time.monotonic() - self.started)}")
        table.add_column("stage")
        table.add_column("status")
        table.add_column("step")
        table.add_column("elapsed", justify="right")
        now = time.monotonic()
        for stage, status in self.status.items():
            if stage in self.stage_seconds:
                elapsed = fmt_seconds(self.stage_seconds[stage])
            elif stage in self.stage_start:
                elapsed = fmt_seconds(now - self.stage_start[stage])
            else:
                elapsed = ""
            table.add_row(stage, f"[{STYLE.get(status, '')}]{status}[/]", self.step[stage], elapsed)
        return table
