"""The API against its driver floor: one row per endpoint and connection count, as Markdown."""

from __future__ import annotations

from dataclasses import dataclass

from microshop_ci.bench.floorproc import FloorResult
from microshop_ci.bench.wrk import WrkResult


@dataclass(frozen=True)
class Pair:
    """One cell measured twice back to back: through the API (wrk), then straight to the driver."""

    endpoint: str
    connections: int
    api: WrkResult
    api_cpu_us: float
    floor: FloorResult

    @property
    def ratio(self) -> float | None:
        """API req/s as a fraction of the floor's ops/s (None when the floor did nothing)."""
        if self.floor.ops_per_second <= 0:
            return None
        return self.api.requests_per_second / self.floor.ops_per_second


def _commands(endpoint: str, api: dict[str, float], floor: dict[str, float]) -> str:
    """Both counts; "differ" when they do not round to the same whole number of commands.

    Rounded: the API's figure may carry a fraction of its sweeper's background commands.
    """
    shown = [f"{counts[endpoint]:g}" if endpoint in counts else "-" for counts in (api, floor)]
    same = endpoint in api and endpoint in floor and round(api[endpoint]) == round(floor[endpoint])
    return f"{shown[0]} / {shown[1]}{'' if same else ' (differ)'}"


def markdown_floor(
    pairs: list[Pair], api_commands: dict[str, float], floor_commands: dict[str, float]
) -> str:
    """The comparison table; db commands per request of the API beside the floor's."""
    lines = [
        "| endpoint | connections | db commands API / floor | API req/s | floor ops/s "
        "| API / floor | API CPU µs/request | floor CPU µs/op | API p99 (ms) | floor p99 (ms) "
        "| API non-2xx + socket errors | floor errors |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for pair in pairs:
        api, floor = pair.api, pair.floor
        ratio = f"{pair.ratio:.2f}" if pair.ratio is not None else "-"
        lines.append(
            f"| {pair.endpoint} | {pair.connections} "
            f"| {_commands(pair.endpoint, api_commands, floor_commands)} "
            f"| {api.requests_per_second:.0f} | {floor.ops_per_second:.0f} | {ratio} "
            f"| {pair.api_cpu_us:.0f} | {floor.cpu_us_per_op:.0f} "
            f"| {api.p99_ms:.2f} | {floor.p99_ms:.2f} "
            f"| {api.non_2xx + api.socket_errors} | {floor.errors} |"
        )
    return "\n".join(lines)


def floor_peaks(pairs: list[Pair]) -> str:
    """The floor processes' peak RSS, the highest of each endpoint's cells, in MiB."""
    highest: dict[str, float] = {}
    for pair in pairs:
        peak = max(pair.floor.peaks_mib, default=0.0)
        highest[pair.endpoint] = max(highest.get(pair.endpoint, 0.0), peak)
    return ", ".join(f"{endpoint} {mib:.0f} MiB" for endpoint, mib in highest.items())
