"""The cluster code's way to run a command: core.tools.run_tool with a shared log and a step name.

Every command's line (`$ argv`) and its stderr are appended to one log (kind.log), or shown on
this process's stderr without one (as a workflow step shows it); its stdout is returned; a
failure is a BuildError naming the step and the log. No timeout: a cold node-image or Istio
build takes as long as it takes, and kubectl's own waits carry their bounds.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path

from microshop_ci.core.gobuild import BuildError
from microshop_ci.core.tools import ToolError, as_root, image_exists, run_tool


def run(
    argv: Sequence[str],
    *,
    step: str,
    log: Path | None,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run argv (no shell), its stderr appended to log (None: this process's stderr); return
    its stdout; BuildError naming the step on failure (a missing command included)."""
    line = f"$ {' '.join(argv)}\n"
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") if log is not None else nullcontext(sys.stderr) as out:
        out.write(line)
        out.flush()
        try:
            result = run_tool(
                argv,
                ok_codes=None,
                cwd=cwd,
                env=env,
                timeout=None,
                stdin=None if stdin is None else stdin.decode(),
                stderr=out,
            )
        except ToolError as err:
            raise BuildError(f"{step} failed ({err})") from None
    if result.returncode != 0:
        where = f"; log: {log}" if log else ""
        raise BuildError(f"{step} failed (exit {result.returncode}{where})")
    return result.stdout


__all__ = ["as_root", "image_exists", "run"]
