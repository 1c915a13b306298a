"""`microshop runtime-rules check|evaluate`: check rule files, or evaluate JSON events against one.

`check [FILE ...]` (default: policies/runtime/microshop-rules.yaml) prints one line per file and
exits 2 on the first refused file, with the file, the rule and the problem in that line.
`evaluate [--rules FILE] [EVENTS]` reads one JSON event per line (a file, or stdin) and writes
one alert per line in Falco's JSON output shape; exit 0 whether or not alerts were raised.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from microshop_ci.core.errors import UsageError
from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.runtime.evaluate import evaluate
from microshop_ci.runtime.rules import load

RULES = REPO_ROOT / "policies" / "runtime" / "microshop-rules.yaml"


def events(stream: TextIO, name: str) -> Iterator[dict[str, Any]]:
    """JSON objects, one a line; a line that is not one is a UsageError naming the line."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as err:
            raise UsageError(f"{name}:{number}: not a JSON event: {err.msg}") from None
        if not isinstance(event, dict):
            raise UsageError(f"{name}:{number}: not a JSON event: expected an object")
        yield event


def shown(path: Path) -> str:
    """A path relative to the repository when it is inside it."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def check(files: Sequence[Path]) -> int:
    """Load each file; a refused file raises (main prints its one line)."""
    for path in files:
        rules = load(path, shown(path))
        print(f"{shown(path)}: {len(rules.rules)} rules, all within the supported subset")
    return 0


def run_evaluate(rules_file: Path, path: Path | None) -> int:
    """Print the alerts of every event read from path (stdin when None)."""
    rules = load(rules_file, shown(rules_file))
    source = "-" if path is None else str(path)
    if path is None:
        stream: TextIO = sys.stdin
    else:
        try:
            stream = path.open()
        except OSError as err:
            raise UsageError(f"{source}: cannot be read: {err.strerror}") from None
    try:
        for event in events(stream, source):
            for alert in evaluate(rules, event):
                print(json.dumps(alert.to_json(), sort_keys=True), flush=True)
    finally:
        if stream is not sys.stdin:
            stream.close()
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    """check [FILE...] | evaluate [--rules FILE] [EVENTS]."""
    sub = parser.add_subparsers(dest="command", required=True)
    check_cmd = sub.add_parser("check", help="check rule files against the supported subset")
    check_cmd.add_argument("files", nargs="*", type=Path, default=[RULES])
    eval_cmd = sub.add_parser("evaluate", help="alerts for JSON events, one a line")
    eval_cmd.add_argument("--rules", type=Path, default=RULES)
    eval_cmd.add_argument("events", nargs="?", type=Path, default=None, help="default: stdin")


def run_command(args: argparse.Namespace) -> int:
    """`microshop runtime-rules check|evaluate`."""
    if args.command == "check":
        return check(args.files)
    return run_evaluate(args.rules, args.events)
