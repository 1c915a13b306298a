"""Start the Docker engine in the background if it does not answer (no systemd on these machines).

Where the capability bounding set lacks a capability runc asks for (CAP_SYS_RESOURCE on the build
machines), dockerd first gets microshop_ci.bootstrap.runtime_wrapper as its default runtime (see
microshop_ci.bootstrap.docker_runtime), so `--privileged` containers (kind's nodes) start; a running
dockerd re-reads daemon.json (SIGHUP). A DOCKER_HOST naming another engine (a second, isolated
one, as tests/scripts/build/test_docker29.py starts) must answer; this machine's dockerd and its
daemon.json are then left alone. Standard library only: scripts/setup runs it before the locked
environment exists.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.bootstrap.docker_runtime import RUNTIME_NAME, needs_reload
from microshop_ci.core.cache import cache_root
from microshop_ci.core.log import log
from microshop_ci.core.tools import ToolError, run, spawn

LOCAL_SOCKETS = ("unix:///var/run/docker.sock", "unix:///run/docker.sock")
START_BOUND = 60.0  # seconds a starting dockerd has to answer
RELOAD_BOUND = 30.0  # seconds a running dockerd has to take the new default runtime
PROBE_TIMEOUT = 10.0  # one `docker info` that hangs counts as no answer


class DockerdError(ToolError):
    """The engine does not answer, cannot be started, or does not take the runtime in time."""


@dataclass(frozen=True)
class Host:
    """Where dockerd's files are and how long to wait (tests shorten the bounds)."""

    log_file: Path = Path("/var/log/microshop-dockerd.log")
    daemon_json: Path = Path("/etc/docker/daemon.json")
    status: Path = Path("/proc/self/status")
    start_bound: float = START_BOUND
    reload_bound: float = RELOAD_BOUND
    interval: float = 1.0


def other_engine(env: Mapping[str, str]) -> str | None:
    """DOCKER_HOST when it names an engine other than this machine's dockerd, else None."""
    host = env.get("DOCKER_HOST", "")
    return host if host and host not in LOCAL_SOCKETS else None


def _docker_info(*args: str) -> str | None:
    """stdout of `docker info ARGS`, or None when the engine does not answer."""
    try:
        result = run(["docker", "info", *args], timeout=PROBE_TIMEOUT)
    except ToolError:  # docker missing, or the call hung
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def answers() -> bool:
    """True if `docker info` succeeds."""
    return _docker_info() is not None


def poll(condition: Callable[[], bool], bound: float, interval: float) -> bool:
    """True as soon as condition holds; False once bound seconds have passed without it."""
    deadline = time.monotonic() + bound
    while True:
        if condition():
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(interval, left))


def reload_runtime(host: Host) -> None:
    """SIGHUP the running dockerd and wait until microshop-runc is its default runtime."""
    log(f"dockerd: new default runtime {RUNTIME_NAME} (re-reading {host.daemon_json})")
    run(["pkill", "-HUP", "-x", "dockerd"])
    if not poll(
        lambda: _docker_info("--format", "{{.DefaultRuntime}}") == RUNTIME_NAME,
        host.reload_bound,
        host.interval,
    ):
        raise DockerdError(
            f"dockerd did not take {RUNTIME_NAME} as its default runtime"
            f" within {host.reload_bound:.0f} s"
        )


def start(host: Host) -> None:
    """Start dockerd detached (own session, output into its log file) and wait until it answers."""
    dockerd = shutil.which("dockerd")
    if not dockerd:
        raise DockerdError("dockerd not found: run scripts/setup (installs Debian's docker.io)")
    log(f"starting dockerd (log: {host.log_file})")
    try:
        with host.log_file.open("wb") as out:
            spawn([dockerd], out=out, env=os.environ)
    except OSError as err:
        raise DockerdError(f"cannot start dockerd with its log at {host.log_file}: {err}") from None
    if not poll(answers, host.start_bound, host.interval):
        raise DockerdError(
            f"dockerd did not answer within {host.start_bound:.0f} s; see {host.log_file}"
        )


def ensure(env: Mapping[str, str], host: Host | None = None) -> None:
    """Make sure the engine answers: the other engine named by DOCKER_HOST, or this machine's
    dockerd (its default runtime configured, re-read or started as needed)."""
    host = host or Host()
    other = other_engine(env)
    if other:
        if not answers():
            raise DockerdError(f"DOCKER_HOST={other} does not answer (docker info failed)")
        return
    reload = needs_reload(host.daemon_json, cache_root(), host.status)
    if answers():
        if reload:
            reload_runtime(host)
        return
    start(host)


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop dockerd` takes no options."""
    del parser


def run_command(args: argparse.Namespace) -> int:
    """Start the engine unless it answers; a failure raises (one `error: ...` line, exit 1)."""
    del args
    ensure(os.environ)
    return 0
