"""The driver floor under load: one process per API worker, CPU and peak memory read from /proc.

Each process opens its own client (the API's pool size), warms up, and waits; the parent reads
every process's CPU time, lets them all go for the cell's duration, and reads it again, so the
CPU per operation covers the measured seconds only, as for the API's workers.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from microshop_ci.bench.commands import CommandCount, CommandCounter
from microshop_ci.bench.floor import ENDPOINTS, Floor, Sample, Target, floor_client, load
from microshop_ci.bench.procs import cpu_ticks, cpu_us_per_request, peak_rss_mib

WARM_SECONDS = 1.0
READY_SECONDS = 60.0


@dataclass(frozen=True)
class FloorResult:
    """The floor at one endpoint and connection count."""

    ops_per_second: float
    p50_ms: float
    p99_ms: float
    ops: int
    errors: int
    cpu_us_per_op: float
    peaks_mib: tuple[float, ...]


def spread(connections: int, workers: int) -> list[int]:
    """Connections per process: as even as possible, no process without one."""
    processes = min(connections, workers)
    return [connections // processes + (i < connections % processes) for i in range(processes)]


def percentiles_ms(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99 (inclusive method) of latencies in seconds, as milliseconds."""
    if not latencies:
        return 0.0, 0.0
    if len(latencies) == 1:
        return latencies[0] * 1000, latencies[0] * 1000
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def combine(samples: list[Sample], cpu_us: float, peaks: tuple[float, ...]) -> FloorResult:
    """One result from every process's sample: total rate over the longest process's time."""
    latencies = [latency for sample in samples for latency in sample.latencies]
    seconds = max(sample.seconds for sample in samples)
    p50, p99 = percentiles_ms(latencies)
    return FloorResult(
        ops_per_second=len(latencies) / seconds if seconds > 0 else 0.0,
        p50_ms=p50,
        p99_ms=p99,
        ops=len(latencies),
        errors=sum(sample.errors for sample in samples),
        cpu_us_per_op=cpu_us,
        peaks_mib=peaks,
    )


async def _serve(
    conn: Connection, target: Target, endpoint: str, tasks: int, seconds: tuple[float, float]
) -> None:
    client = floor_client(target.uri)
    try:
        op = Floor(client[target.database], target).op(endpoint)
        warm, measured = seconds
        await load(op, tasks, warm)
        conn.send("ready")
        conn.recv()  # go
        conn.send(await load(op, tasks, measured))
        conn.recv()  # the parent has read this process's CPU time and peak
    finally:
        await client.close()


def _worker(
    conn: Connection, target: Target, endpoint: str, tasks: int, seconds: tuple[float, float]
) -> None:
    """A floor process (started with spawn: nothing of the parent's state is inherited)."""
    asyncio.run(_serve(conn, target, endpoint, tasks, seconds))


def _expect(conn: Connection, timeout: float, what: str) -> Any:
    if not conn.poll(timeout):
        raise SystemExit(f"benchmark: the driver floor did not {what} within {timeout:.0f} s")
    try:
        return conn.recv()
    except EOFError:
        raise SystemExit(
            f"benchmark: a driver floor process exited before it could {what}"
        ) from None


def run_floor(
    target: Target,
    endpoint: str,
    connections: int,
    workers: int,
    seconds: float,
    warm: float = WARM_SECONDS,
) -> FloorResult:
    """The floor at this concurrency, split over as many processes as the API has workers."""
    context = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    procs: list[Any] = []
    try:
        for tasks in spread(connections, workers):
            parent, child = context.Pipe()
            proc = context.Process(
                target=_worker, args=(child, target, endpoint, tasks, (warm, seconds)), daemon=True
            )
            proc.start()
            pipes.append(parent)
            procs.append(proc)
        for pipe in pipes:
            _expect(pipe, READY_SECONDS, "warm up")
        pids = [proc.pid for proc in procs]
        before = cpu_ticks(pids)
        for pipe in pipes:
            pipe.send("go")
        samples: list[Sample] = [_expect(pipe, seconds + READY_SECONDS, "finish") for pipe in pipes]
        after = cpu_ticks(pids)
        peaks = tuple(peak_rss_mib(pid) for pid in pids)
        for pipe in pipes:
            pipe.send("done")
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join()
    ops = sum(len(sample.latencies) for sample in samples)
    return combine(samples, cpu_us_per_request(before, after, ops), peaks)


async def _count(target: Target, requests: int) -> list[CommandCount]:
    counter = CommandCounter()
    client = floor_client(target.uri, [counter])
    try:
        floor = Floor(client[target.database], target)
        counts = []
        for endpoint in ENDPOINTS:
            op = floor.op(endpoint)
            await op()  # warm, as for the API
            counter.take()
            for _ in range(requests):
                await op()
            seen = counter.take()
            counts.append(CommandCount(endpoint, requests, sum(seen.values()), dict(seen)))
        return counts
    finally:
        await client.close()


def count_floor_commands(target: Target, requests: int = 20) -> list[CommandCount]:
    """Commands per operation of each endpoint's floor, one operation at a time."""
    return asyncio.run(_count(target, requests))
