"""The one verdict vocabulary of gates, steps and stages."""

from __future__ import annotations

import enum


class Verdict(enum.StrEnum):
    """Outcome of a gate, a step or a stage."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_RUN = "not-run"  # its inputs exist but it could not run here, or an earlier stage failed
    ERROR = "error"  # a gate's tool crashed or its output could not be read
    CANCELLED = "cancelled"  # Ctrl-C
