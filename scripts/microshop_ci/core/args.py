"""The program's argument parser: one error line for a usage mistake, paths read from here.

Standard library only (the set-up subcommands run before the locked environment exists).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from microshop_ci.core.errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse with the program's one error line: a usage mistake raises UsageError (exit 2);
    no option abbreviations, so an option passed through to pytest is never taken for ours."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def from_here(text: str) -> Path:
    """A command-line path, made absolute from the folder the user stands in."""
    return Path(text).absolute()


def paths_from_here(parser: argparse.ArgumentParser) -> None:
    """Every `type=Path` argument of parser and its subparsers reads from the user's folder.

    Walks argparse's own action list (no public API lists a parser's arguments) so that no
    module has to remember a special path type; defaults are left as each module wrote them.
    """
    for action in parser._actions:
        if action.type is Path:
            action.type = from_here
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                paths_from_here(child)


def parse_with(
    configure: Callable[[argparse.ArgumentParser], None], prog: str, argv: Sequence[str]
) -> argparse.Namespace:
    """argv parsed as subcommand PROG parses it: for a command that runs another in-process."""
    parser = Parser(prog=prog)
    configure(parser)
    paths_from_here(parser)
    return parser.parse_args(list(argv))
