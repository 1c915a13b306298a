"""Append a Markdown report to the GitHub job summary ($GITHUB_STEP_SUMMARY), or print it when
not on GitHub (scripts/step-summary FILE.md). A missing report is said plainly: the step that
writes it failed before the end."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def summary_text(report: Path) -> str:
    """The report itself, or one quoted line saying it was not written."""
    if report.is_file():
        return report.read_text()
    return (
        f"> **{report} was not written**: the step that produces it failed before the end; "
        "see its log.\n"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop step-summary FILE.md`."""
    parser.add_argument("report", type=Path, metavar="FILE.md")


def run_command(args: argparse.Namespace) -> int:
    """Append the report (or the line saying it is missing) to the job summary, or print it."""
    text = summary_text(args.report)
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0
