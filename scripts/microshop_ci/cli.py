"""`microshop SUBCOMMAND ...`: one parser, one fatal-error path, one exit-code table.

Exit codes (every subcommand):
  0    success
  1    a check failed, or a step could not run (one `error: ...` line says which)
  2    a usage error: a bad option or argument, an invalid configuration
  130  interrupted (Ctrl-C)

Paths: a path given on the command line is read from the folder you stand in; the command
then runs from the repository root (so every file it names itself is the repository's), and
the folder is restored when it returns. Arguments passed through to pytest (`test`, `e2e`,
`cluster e2e`) are pytest's own and are read from the repository root, as pytest's are.

Standard library only: the set-up subcommands run with the system Python before the locked
environment exists, so a subcommand's module is imported only when that subcommand runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, cast

from microshop_ci.commands import BY_NAME, COMMANDS, GROUPS
from microshop_ci.core.args import Parser, paths_from_here
from microshop_ci.core.errors import MicroshopError
from microshop_ci.core.paths import REPO_ROOT

PROG = "microshop"
INTERRUPTED = 130


class Subcommand(Protocol):
    """What a module named in microshop_ci.commands provides."""

    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run_command(self, args: argparse.Namespace) -> int: ...


def _overview() -> str:
    """The subcommands, grouped, one line each."""
    width = max(len(c.name) for c in COMMANDS) + 2
    blocks = []
    for group, title in GROUPS:
        lines = [f"  {c.name:<{width}}{c.summary}" for c in COMMANDS if c.group == group]
        blocks.append(f"{group} ({title}):\n" + "\n".join(lines))
    return "\n\n".join(blocks)


def _module(name: str) -> Subcommand:
    """The module of subcommand NAME, imported now."""
    return cast(Subcommand, importlib.import_module(BY_NAME[name].module))


def build_parser(chosen: str | None) -> tuple[Parser, Parser | None]:
    """The program's parser and the chosen subcommand's, the only one whose module is imported
    and configured."""
    parser = Parser(
        prog=PROG,
        description=(__doc__ or "").split("\n\n")[1],
        epilog=_overview() + "\n\n`microshop COMMAND --help` tells more.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="microshop_command", metavar="COMMAND", required=True)
    picked = None
    for command in COMMANDS:
        child = sub.add_parser(command.name, description=command.summary)
        if command.name == chosen:
            _module(command.name).configure(child)
            paths_from_here(child)
            picked = child
    return parser, picked


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Parse argv; arguments the subcommand does not know are its `extra_args` when it takes
    them (it sets that default), else a usage error."""
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser, child = build_parser(chosen if chosen in BY_NAME else None)
    args, rest = parser.parse_known_args(argv)
    if rest and not isinstance(getattr(args, "extra_args", None), list):
        (child or parser).error(f"unrecognized arguments: {' '.join(rest)}")
    if rest:
        args.extra_args = rest
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; the one place an error becomes `error: MESSAGE` and an exit code."""
    here = Path.cwd()
    try:
        args = parse(sys.argv[1:] if argv is None else list(argv))
        os.chdir(REPO_ROOT)
        return _module(args.microshop_command).run_command(args)
    except MicroshopError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        return INTERRUPTED
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        os.chdir(here)
