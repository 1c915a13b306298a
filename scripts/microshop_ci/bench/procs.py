"""The benchmark's processes: start and stop them, wait for them (bounded), read their /proc."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    """Poll url until it answers 200; stop the benchmark if proc exits or timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"benchmark: {what} exited with code {proc.returncode}")
        with suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"benchmark: {what} did not answer {url} within {timeout} s")


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    """Poll until something listens on the loopback port (30 s at most)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"benchmark: {what} exited with code {proc.returncode}")
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise SystemExit(f"benchmark: {what} did not listen on {port}")


@contextmanager
def process(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run args for the block, output to log; terminated (killed after 15 s) at the end."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def children(pid: int) -> list[int]:
    """The direct children of pid."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker_pids(pid: int) -> list[int]:
    """The uvicorn workers of pid (spawned children); pid itself when it has none."""
    workers = [
        child
        for child in children(pid)
        if "spawn_main" in Path(f"/proc/{child}/cmdline").read_text(errors="replace")
    ]
    return workers or [pid]


def worker_peaks(pid: int) -> list[float]:
    """Peak RSS (VmHWM, MiB) of each uvicorn worker; the process itself when it has none."""
    return [peak_rss_mib(worker) for worker in worker_pids(pid)]


def parse_cpu_ticks(stat: str) -> int:
    """utime + stime (clock ticks) from a /proc/PID/stat line.

    The command name (field 2) is in parentheses and may hold spaces, so fields are counted
    from the last ")": utime and stime are fields 14 and 15 of the line.
    """
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_ticks(pids: list[int]) -> dict[int, int]:
    """utime + stime of each process so far, in clock ticks."""
    return {pid: parse_cpu_ticks(Path(f"/proc/{pid}/stat").read_text()) for pid in pids}


def cpu_us_per_request(
    before: Mapping[int, int], after: Mapping[int, int], requests: int, ticks: int = CLOCK_TICKS
) -> float:
    """CPU microseconds the processes spent per request between two cpu_ticks() readings."""
    if requests <= 0:
        return 0.0
    spent = sum(after[pid] - before[pid] for pid in after)
    return spent * 1_000_000 / ticks / requests
