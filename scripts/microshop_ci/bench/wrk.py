"""Parse wrk's --latency output and format the Markdown report."""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms), request and error counts."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """Read requests/s, the 50%/99% latency lines, totals and errors from wrk --latency."""
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"^\s+([0-9]+) requests in ", output, re.M)
    if not (rps and p50 and p99 and total):
        raise ValueError("wrk output lacks Requests/sec, latency distribution or totals")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+([0-9]+)", output)
    errors = re.search(
        r"Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)", output
    )
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        p50_ms=_duration_ms(p50.group(1)),
        p99_ms=_duration_ms(p99.group(1)),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


@dataclass(frozen=True)
class Cell:
    """One benchmark cell: an endpoint at a connection count."""

    endpoint: str
    connections: int
    result: WrkResult


def markdown_table(cells: list[Cell], commands: dict[str, float] | None = None) -> str:
    """The results as a Markdown table; database commands per request beside each endpoint."""
    commands = commands or {}
    lines = [
        "| endpoint | connections | db commands/request | req/s | p50 (ms) | p99 (ms) | requests "
        "| non-2xx | socket errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cell in cells:
        r = cell.result
        per_request = commands.get(cell.endpoint)
        shown = f"{per_request:g}" if per_request is not None else "-"
        lines.append(
            f"| {cell.endpoint} | {cell.connections} | {shown} | {r.requests_per_second:.0f} "
            f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.requests} | {r.non_2xx} | {r.socket_errors} |"
        )
    return "\n".join(lines)
