"""The one way to run an external tool, find a pinned one, and call docker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from functools import cache
from pathlib import Path

from microshop_ci.core.paths import SCRIPTS_DIR

TOOL_TIMEOUT = 900


class ToolError(Exception):
    """A tool could not be found, started, finished in time, or exited with a failure code."""


def run_tool(
    argv: Sequence[str],
    *,
    ok_codes: tuple[int, ...] | None = (0,),
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = TOOL_TIMEOUT,
    log: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a tool without a shell; an exit code outside ok_codes (None: any) raises ToolError.

    With log, the tool's stdout and stderr go to that file (written anew), not to the result.
    """
    try:
        with log.open("w") if log else nullcontext() as out:
            result = subprocess.run(  # nosec B603 -- argv list built by the caller, no shell
                list(argv),
                cwd=cwd,
                env={**os.environ, **(env or {})},
                stdout=out or subprocess.PIPE,
                stderr=subprocess.STDOUT if out else subprocess.PIPE,
                text=True,
                timeout=timeout,
                check=False,
            )
    except FileNotFoundError as err:
        raise ToolError(f"{argv[0]} not found ({err})") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"{Path(argv[0]).name} did not finish within {timeout:.0f} s") from None
    if ok_codes is not None and result.returncode not in ok_codes:
        tail = f"log: {log}" if log else (result.stderr or result.stdout).strip()[-1500:]
        raise ToolError(f"{Path(argv[0]).name} exited {result.returncode}: {tail}")
    return result


def run(
    argv: Sequence[str], *, cwd: Path | None = None, timeout: float = TOOL_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run a tool whatever its exit code; the caller decides what the code means."""
    return run_tool(argv, ok_codes=None, cwd=cwd, timeout=timeout)


@cache
def pinned_tool(name: str) -> str:
    """Path of a pinned tool built by scripts/tool (waits for a build in progress).

    MICROSHOP_TOOL_<NAME> (upper case, `-` as `_`) names a binary to use instead.
    """
    override = os.environ.get(f"MICROSHOP_TOOL_{name.upper().replace('-', '_')}")
    if override:
        return override
    try:
        result = run_tool([str(SCRIPTS_DIR / "tool"), name])
    except ToolError as err:
        raise ToolError(f"scripts/tool {name} failed: {str(err)[-500:]}") from None
    return result.stdout.strip()


def venv_tool(name: str) -> str:
    """A console script installed beside this interpreter (bandit, pip-audit, zizmor)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise ToolError(f"{name} is not installed in {path.parent} (run scripts/setup)")
    return str(path)


def as_root(argv: Sequence[str]) -> list[str]:
    """argv, behind sudo unless this process is root already."""
    return list(argv) if os.geteuid() == 0 else ["sudo", *argv]


def docker(*args: str, check: bool = True, timeout: float = TOOL_TIMEOUT) -> str:
    """Run docker and return its stdout; with check, a failure raises ToolError with its stderr."""
    try:
        result = run_tool(["docker", *args], ok_codes=(0,) if check else None, timeout=timeout)
    except ToolError as err:
        detail = str(err).split(": ", 1)[-1]
        raise ToolError(f"docker {' '.join(args[:2])} failed: {detail[-500:]}") from None
    return result.stdout.strip()


def script(name: str, *args: str) -> str:
    """Run scripts/NAME (a bash entry point); pass its progress lines on, return its stdout."""
    result = run_tool([str(SCRIPTS_DIR / name), *args])
    sys.stderr.write(result.stderr)
    return result.stdout.strip()


def image_exists(name: str) -> bool:
    """True if the local Docker engine has an image of that name."""
    return run(["docker", "image", "inspect", name]).returncode == 0


def uv_binary() -> str:
    """The pinned uv (UV from the environment, else scripts/lib.sh's uv_bin, which installs it)."""
    if os.environ.get("UV"):
        return os.environ["UV"]
    lib = SCRIPTS_DIR / "lib.sh"
    return run_tool(["bash", "-c", f'source "{lib}" && uv_bin']).stdout.strip()
