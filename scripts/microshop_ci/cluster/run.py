"""The one way the cluster code runs a command: argv list, output to a log, errors name the step."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from microshop_ci.cluster.gobuild import BuildError
from microshop_ci.core.tools import as_root, image_exists


def run(
    argv: Sequence[str],
    *,
    step: str,
    log: Path,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run argv (no shell), appending its stderr to log; return stdout; BuildError on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        result = subprocess.run(  # nosec B603 -- argv lists built by the cluster code
            list(argv),
            input=stdin,
            stdout=subprocess.PIPE,
            stderr=out,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            check=False,
        )
    if result.returncode != 0:
        raise BuildError(f"{step} failed (exit {result.returncode}; log: {log})")
    return result.stdout.decode("utf-8", "replace")


__all__ = ["as_root", "image_exists", "run"]
