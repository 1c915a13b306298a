"""Append a Markdown report to the GitHub job summary ($GITHUB_STEP_SUMMARY), or print it when
not on GitHub (scripts/step-summary FILE.md). A missing report is said plainly: the step that
writes it failed before the end."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path


def summary_text(report: Path) -> str:
    """The report itself, or one quoted line saying it was not written."""
    if report.is_file():
        return report.read_text()
    return (
        f"> **{report} was not written**: the step that produces it failed before the end; "
        "see its log.\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """scripts/step-summary FILE.md."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: scripts/step-summary FILE.md", file=sys.stderr)
        return 2
    text = summary_text(Path(args[0]))
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
