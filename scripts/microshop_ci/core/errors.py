"""The error every pinned-tool lookup, tool run and pinned version raises: ToolError."""

from __future__ import annotations


class ToolError(Exception):
    """A tool could not be found, built, started or finished in time, or exited with a failure."""
