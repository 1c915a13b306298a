"""The local Sigstore (microshop sigstore) for a test: its own free ports and data folder.

`running_stack` brings a stack up on a block of ten free ports and stops exactly it afterwards, so
a test never meets another run's stack (the cluster run's uses the default ports).
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

STACK = [sys.executable, "-m", "microshop_ci", "sigstore"]
UP_SECONDS = 3600  # a new machine builds Fulcio, Rekor and Trillian first


def free_block(hosts: tuple[str, ...] = ("127.0.0.1",), count: int = 10) -> int:
    """A first port such that it and the next count-1 ports are free on every host now."""
    for _ in range(50):
        base = random.randrange(20000, 30000)
        try:
            socks = [socket.create_server((h, base + i)) for i in range(count) for h in hosts]
        except OSError:
            continue
        for sock in socks:
            sock.close()
        return base
    raise RuntimeError(f"no block of {count} free ports on {', '.join(hosts)}")


def _run(argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@contextlib.contextmanager
def running_stack(data: Path, host: str = "127.0.0.1") -> Iterator[dict[str, str]]:
    """A stack with data in data, on host and a free port block; yields the environment that
    names it plus the variables `microshop sigstore env` prints. Stopped afterwards, also on
    error."""
    env = {
        **os.environ,
        "MICROSHOP_SIGSTORE_HOST": host,
        "MICROSHOP_SIGSTORE_PORT": str(free_block(tuple(dict.fromkeys(("127.0.0.1", host))))),
        "MICROSHOP_SIGSTORE_DATA": str(data),
    }
    started = _run([*STACK, "up"], env, UP_SECONDS)
    try:
        if started.returncode != 0:
            raise RuntimeError(f"microshop sigstore up failed: {started.stderr.strip()}")
        printed = _run([*STACK, "env"], env, 60)
        if printed.returncode != 0:
            raise RuntimeError(f"microshop sigstore env failed: {printed.stderr.strip()}")
        yield {**env, **dict(line.split("=", 1) for line in printed.stdout.splitlines())}
    finally:
        stopped = _run([*STACK, "down"], env, 120)
        if stopped.returncode != 0:
            raise RuntimeError(f"microshop sigstore down failed: {stopped.stderr.strip()}")
