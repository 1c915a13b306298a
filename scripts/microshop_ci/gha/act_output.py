"""Make act's self-hosted steps keep the output of a failing step (applied when act is built).

act v0.2.89 runs a self-hosted step's command on a pseudo-terminal and copies the terminal's
output into its log from a goroutine (pkg/container/host_environment.go, `exec`). When the
command exits 0 it writes an end-of-transmission byte and waits until that goroutine has read
everything; when the command fails it returns at once, and the deferred close of the terminal
drops whatever the goroutine had not read yet. Under load that is the failing step's last lines:
the very lines that say why it failed (seen in tests/workflows/test_act.py, where the `required`
job's `require-jobs: workflows: failure` went missing once).

The fix deletes the early return, so a failed command takes the same drain-then-return path as a
successful one (the function already returns the command's error at its end). scripts/tool runs
this on a writable copy of the module before building act; it refuses to build a source that does
not have exactly the expected lines, so a version bump cannot silently drop the fix.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from microshop_ci.core.errors import MicroshopError

FILE = Path("pkg/container/host_environment.go")
EARLY_RETURN = "\terr = cmd.Run()\n\tif err != nil {\n\t\treturn err\n\t}\n\tif tty != nil {\n"
DRAIN_FIRST = "\terr = cmd.Run()\n\tif tty != nil {\n"
# the tail of exec that the drain path relies on: wait for the copy, then return the error
TAIL = "\t<-logctx.Done()\n"


class SourceError(MicroshopError):
    """The act source does not have the lines this fix expects."""


def fix(module: Path) -> None:
    """Drain a failed step's terminal output before returning (edits module/FILE in place)."""
    path = module / FILE
    if not path.is_file():
        raise SourceError(f"{path}: not found (is this github.com/nektos/act?)")
    text = path.read_text()
    if text.count(EARLY_RETURN) != 1 or text.count(TAIL) != 1:
        raise SourceError(
            f"{path}: the early return after cmd.Run() is not there exactly once; "
            "check whether this act version still loses a failing step's output"
        )
    path.write_text(text.replace(EARLY_RETURN, DRAIN_FIRST))


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop act-output MODULE_DIR` (the writable copy scripts/tool builds act in)."""
    parser.add_argument("module", type=Path)


def run_command(args: argparse.Namespace) -> int:
    """Apply the fix to the act source in args.module."""
    fix(args.module)
    return 0
