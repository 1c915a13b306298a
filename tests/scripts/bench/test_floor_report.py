"""The driver floor's arithmetic and report: /proc parsing, splitting, percentiles, the table."""

from __future__ import annotations

import os

import pytest
from pydantic import SecretStr

from microshop_ci.bench.compare import Pair, floor_peaks, markdown_floor
from microshop_ci.bench.floor import Floor, Sample, Target, floor_client
from microshop_ci.bench.floorproc import FloorResult, combine, percentiles_ms, spread
from microshop_ci.bench.procs import cpu_ticks, cpu_us_per_request, parse_cpu_ticks
from microshop_ci.bench.wrk import WrkResult

STAT = "4242 (uvicorn (w) 1) S 1 4242 4242 0 -1 4194560 1500 0 3 0 250 75 0 0 20 0 3 0 99"


def test_cpu_ticks_are_utime_plus_stime_counted_after_the_command_name() -> None:
    assert parse_cpu_ticks(STAT) == 325


def test_cpu_ticks_of_this_process_are_read_from_proc() -> None:
    assert list(cpu_ticks([os.getpid()])) == [os.getpid()]


def test_cpu_per_request_sums_every_process_over_the_requests() -> None:
    before, after = {1: 100, 2: 50}, {1: 160, 2: 90}
    assert cpu_us_per_request(before, after, 400, ticks=100) == 2500.0  # 1 s over 400
    assert cpu_us_per_request(before, after, 0, ticks=100) == 0.0


@pytest.mark.parametrize(
    ("connections", "workers", "split"),
    [(1, 2, [1]), (16, 2, [8, 8]), (3, 2, [2, 1]), (64, 3, [22, 21, 21]), (2, 1, [2])],
)
def test_connections_are_spread_over_processes(
    connections: int, workers: int, split: list[int]
) -> None:
    assert spread(connections, workers) == split


def test_percentiles_are_inclusive_and_in_milliseconds() -> None:
    latencies = [n / 1000 for n in range(1, 102)]  # 1..101 ms
    assert percentiles_ms(latencies) == pytest.approx((51.0, 100.0))
    assert percentiles_ms([0.004]) == (4.0, 4.0)
    assert percentiles_ms([]) == (0.0, 0.0)


def test_samples_combine_over_the_longest_process() -> None:
    samples = [Sample([0.01] * 30, 1, 2.0), Sample([0.03] * 10, 2, 2.5)]
    result = combine(samples, 812.5, (50.0, 51.5))
    assert result == FloorResult(
        ops_per_second=16.0,
        p50_ms=pytest.approx(10.0),
        p99_ms=pytest.approx(30.0),
        ops=40,
        errors=3,
        cpu_us_per_op=812.5,
        peaks_mib=(50.0, 51.5),
    )


def _pair(endpoint: str, connections: int, api_rps: float, floor_ops: float) -> Pair:
    api = WrkResult(api_rps, 5.0, 20.5, int(api_rps * 10), 1, 2)
    floor = FloorResult(floor_ops, 2.0, 9.25, int(floor_ops * 10), 0, 450.0, (52.0, 54.4))
    return Pair(endpoint, connections, api, 1234.4, floor)


def test_the_floor_table_has_ratios_cpu_and_both_command_counts() -> None:
    pairs = [
        _pair("GET /products", 16, 180.0, 240.0),
        _pair("POST /orders", 1, 30.0, 0.0),
    ]
    table = markdown_floor(pairs, {"GET /products": 1.06, "POST /orders": 11}, {"GET /products": 1})
    assert table.splitlines() == [
        "| endpoint | connections | db commands API / floor | API req/s | floor ops/s "
        "| API / floor | API CPU µs/request | floor CPU µs/op | API p99 (ms) | floor p99 (ms) "
        "| API non-2xx + socket errors | floor errors |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        "| GET /products | 16 | 1.06 / 1 | 180 | 240 | 0.75 | 1234 | 450 | 20.50 | 9.25 | 3 | 0 |",
        "| POST /orders | 1 | 11 / - (differ) | 30 | 0 | - | 1234 | 450 | 20.50 | 9.25 | 3 | 0 |",
    ]
    assert pairs[0].ratio == 0.75
    assert pairs[1].ratio is None


def test_command_counts_that_round_apart_are_marked() -> None:
    table = markdown_floor(
        [_pair("POST /orders", 1, 30.0, 40.0)], {"POST /orders": 8}, {"POST /orders": 11}
    )
    assert "| 8 / 11 (differ) |" in table


def test_floor_peaks_are_the_highest_per_endpoint() -> None:
    pairs = [_pair("GET /products", 1, 1.0, 1.0), _pair("GET /products", 16, 1.0, 1.0)]
    pairs.append(Pair("POST /orders", 1, pairs[0].api, 0.0, FloorResult(1, 1, 1, 1, 0, 1, (70.2,))))
    assert floor_peaks(pairs) == "GET /products 54 MiB, POST /orders 70 MiB"


def test_the_floor_client_has_the_api_clients_options() -> None:
    from api_service.config import Settings  # noqa: PLC0415 - the service's own client factory
    from api_service.database import new_client  # noqa: PLC0415

    uri = "mongodb://127.0.0.1:9/"
    api = new_client(Settings.model_construct(mongodb_uri=SecretStr(uri)), None)
    floor = floor_client(uri)
    for client in (api, floor):
        assert client.options.pool_options.max_pool_size == 100
    assert floor.options.pool_options.min_pool_size == api.options.pool_options.min_pool_size
    assert floor.options.server_selection_timeout == api.options.server_selection_timeout == 5
    assert floor.codec_options == api.codec_options


def test_an_unknown_endpoint_has_no_floor() -> None:
    target = Target("mongodb://127.0.0.1:9/", "microshop", ("a",), "u", "e@example.com")
    floor = Floor(floor_client(target.uri)[target.database], target)
    with pytest.raises(
        ValueError, match="no driver floor for 'GET /health'; one of: GET /products"
    ):
        floor.op("GET /health")
