"""The one way to run an external tool or a pipeline module, find a pinned tool, and call docker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from functools import cache
from pathlib import Path
from typing import BinaryIO, TextIO

from microshop_ci.core import gotools
from microshop_ci.core.errors import ToolError
from microshop_ci.core.paths import REPO_ROOT, SCRIPTS_DIR
from microshop_ci.core.uv import UvError, ensure_uv

TOOL_TIMEOUT = 900


def run_tool(
    argv: Sequence[str],
    *,
    ok_codes: tuple[int, ...] | None = (0,),
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = TOOL_TIMEOUT,
    log: Path | None = None,
    stdin: str | None = None,
    stderr: TextIO | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a tool without a shell; an exit code outside ok_codes (None: any) raises ToolError.

    Output is UTF-8 (undecodable bytes replaced). With log, the tool's stdout and stderr go to
    that file (written anew), not to the result; with stderr (an open file), its stderr goes
    there and its stdout to the result (the cluster code's shared log); stdin is its input.
    """
    try:
        with log.open("w") if log else nullcontext() as out:
            result = subprocess.run(  # nosec B603 -- argv list built by the caller, no shell
                list(argv),
                cwd=cwd,
                env={**os.environ, **(env or {})},
                input=stdin,
                stdout=out or subprocess.PIPE,
                stderr=subprocess.STDOUT if out else (stderr or subprocess.PIPE),
                encoding="utf-8",
                errors="replace",
                timeout=timeout,
                check=False,
            )
    except FileNotFoundError as err:
        raise ToolError(f"{argv[0]} not found ({err})") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"{Path(argv[0]).name} did not finish within {timeout:.0f} s") from None
    if ok_codes is not None and result.returncode not in ok_codes:
        tail = f"log: {log}" if log else (result.stderr or result.stdout or "").strip()[-1500:]
        raise ToolError(f"{Path(argv[0]).name} exited {result.returncode}: {tail}")
    return result


def python_module(module: str, *args: str) -> tuple[str, ...]:
    """argv of `python -m MODULE ARGS` in this interpreter's environment (the locked one).

    The one way the pipeline starts its own Python as a child process (microshop() below is this
    for the program); see module_env for where it is imported from.
    """
    return (sys.executable, "-m", module, *args)


def microshop(*args: str) -> tuple[str, ...]:
    """argv of `microshop ARGS` (microshop_ci.cli) in this interpreter's environment: the way
    one subcommand starts another as a child process."""
    return python_module("microshop_ci", *args)


def module_env(repo: Path, env: Mapping[str, str]) -> dict[str, str]:
    """env with REPO/scripts first on PYTHONPATH: python_module runs that tree's modules."""
    path = [str(repo / "scripts"), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    return {**env, "PYTHONPATH": os.pathsep.join(path)}


def run_visible(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> int:
    """Run a tool with its output on this process's stdout and stderr; return its exit code."""
    try:
        return subprocess.run(  # nosec B603 -- argv list built by the caller, no shell
            list(argv), cwd=cwd, env={**os.environ, **(env or {})}, check=False
        ).returncode
    except FileNotFoundError as err:
        raise ToolError(f"{argv[0]} not found ({err})") from None


def spawn(
    argv: Sequence[str], *, out: BinaryIO, env: Mapping[str, str], cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a child in its own process group (stop_group ends it and its children) with stdout
    and stderr into out and no stdin; FileNotFoundError when argv[0] does not exist."""
    return subprocess.Popen(  # nosec B603 -- argv list built by the caller, no shell
        list(argv),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
    )


def stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """End a spawned child's whole process group: SIGTERM, then SIGKILL after grace seconds."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        return


def run(
    argv: Sequence[str], *, cwd: Path | None = None, timeout: float = TOOL_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run a tool whatever its exit code; the caller decides what the code means."""
    return run_tool(argv, ok_codes=None, cwd=cwd, timeout=timeout)


@cache
def pinned_tool(name: str) -> str:
    """Path of a pinned tool, built once per machine by microshop_ci.core.gotools (scripts/tool);
    waits for a build in progress, whose progress lines go to stderr.

    MICROSHOP_TOOL_<NAME> (upper case, `-` as `_`) names a binary to use instead.
    """
    override = os.environ.get(f"MICROSHOP_TOOL_{name.upper().replace('-', '_')}")
    if override:
        return override
    try:
        return str(gotools.ensure(name))
    except ToolError as err:
        raise ToolError(f"scripts/tool {name} failed: {str(err)[-500:]}") from None


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
    """The pinned uv (UV from the environment, else the one core.uv installs into the cache)."""
    if os.environ.get("UV"):
        return os.environ["UV"]
    try:
        return str(ensure_uv())
    except UvError as err:
        raise ToolError(str(err)) from None


def locked_microshop(*args: str) -> tuple[str, ...]:
    """argv of `microshop ARGS` in the locked environment (uv run, as scripts/lib.sh's
    microshop), for a standard-library process that may itself run without it."""
    uv = uv_binary()
    return (uv, "run", "--frozen", "--quiet", "--project", str(REPO_ROOT), "microshop", *args)


__all__ = [
    "TOOL_TIMEOUT",
    "ToolError",
    "as_root",
    "docker",
    "image_exists",
    "locked_microshop",
    "microshop",
    "module_env",
    "pinned_tool",
    "python_module",
    "run",
    "run_tool",
    "run_visible",
    "script",
    "spawn",
    "stop_group",
    "uv_binary",
    "venv_tool",
]
