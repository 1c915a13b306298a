"""The pipeline's one error base, MicroshopError, and the errors that several packages raise.

Every exception class under microshop_ci derives from MicroshopError (directly or through
another of these), so one `except MicroshopError` catches every failure the pipeline reports as
a message; a class that is also a ValueError (or RuntimeError) keeps that base for the callers
that catch it. tests/scripts/test_errors.py holds the package to this.
"""

from __future__ import annotations

from typing import ClassVar


class MicroshopError(Exception):
    """A failure the pipeline reports as a one-line message; exit_code is the command's status."""

    exit_code: ClassVar[int] = 1


class UsageError(MicroshopError):
    """A mistake in the caller's input: reported as one line, exit code 2, no traceback."""

    exit_code = 2


class ToolError(MicroshopError):
    """A tool could not be found, built, started or finished in time, or exited with a failure."""


class BuildError(MicroshopError):
    """Something could not be prepared, built or pushed: the message names it and says why."""
