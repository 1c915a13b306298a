"""The one way the cluster code runs a command: argv list, output to a log, errors name the step."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from microshop_ci.core.gobuild import BuildError
from microshop_ci.core.tools import as_root, image_exists


def run(
    argv: Sequence[str],
    *,
    step: str,
    log: Path | None,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run argv (no shell), its stderr appended to log (None: this process's stderr, as a
    workflow step shows it); return stdout; BuildError naming the step on failure."""
    if log is None:
        print(f"$ {' '.join(argv)}", file=sys.stderr, flush=True)
        return _finish(_run(argv, stdin, env, cwd, sys.stderr), step, None)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        return _finish(_run(argv, stdin, env, cwd, out), step, log)


def _run(
    argv: Sequence[str],
    stdin: bytes | None,
    env: Mapping[str, str] | None,
    cwd: Path | None,
    stderr: TextIO,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # nosec B603 -- argv lists built by the cluster code
        list(argv),
        input=stdin,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )


def _finish(result: subprocess.CompletedProcess[bytes], step: str, log: Path | None) -> str:
    if result.returncode != 0:
        where = f"; log: {log}" if log else ""
        raise BuildError(f"{step} failed (exit {result.returncode}{where})")
    return result.stdout.decode("utf-8", "replace")


__all__ = ["as_root", "image_exists", "run"]
