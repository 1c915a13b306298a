"""wrk --latency output parsing and the Markdown table (the load run itself is not a test)."""

from __future__ import annotations

import pytest

from microshop_ci.bench.wrk import Cell, WrkResult, markdown_table, parse_wrk
from microshop_ci.cli import main as microshop

WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:8000/products
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    21.43ms    8.10ms 105.32ms   80.12%
    Req/Sec   375.20     40.11   470.00     71.00%
  Latency Distribution
     50%   19.87ms
     75%   24.01ms
     90%   30.55ms
     99%    1.02s
  7482 requests in 10.01s, 31.20MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 12
Requests/sec:    747.46
Transfer/sec:      3.12MB
"""


def test_parse_wrk_reads_throughput_percentiles_and_errors() -> None:
    assert parse_wrk(WRK_OUTPUT) == WrkResult(
        requests_per_second=747.46,
        p50_ms=19.87,
        p99_ms=1020.0,
        requests=7482,
        non_2xx=12,
        socket_errors=5,
    )


def test_parse_wrk_converts_microseconds_and_defaults_missing_error_lines() -> None:
    text = WRK_OUTPUT.replace("19.87ms", "870.00us").replace("  Non-2xx or 3xx responses: 12\n", "")
    text = text.replace("  Socket errors: connect 0, read 2, write 0, timeout 3\n", "")
    result = parse_wrk(text)
    assert result.p50_ms == pytest.approx(0.87)
    assert (result.non_2xx, result.socket_errors) == (0, 0)


def test_parse_wrk_refuses_output_without_results() -> None:
    with pytest.raises(ValueError, match="lacks Requests/sec"):
        parse_wrk("unable to connect to 127.0.0.1:8000 Connection refused\n")


def test_parse_wrk_refuses_unknown_units() -> None:
    with pytest.raises(ValueError, match="not a wrk duration"):
        parse_wrk(WRK_OUTPUT.replace("19.87ms", "19.87h"))


def test_markdown_table_has_one_row_per_cell() -> None:
    result = parse_wrk(WRK_OUTPUT)
    cells = [Cell("GET /products", 16, result), Cell("POST /orders", 64, result)]
    lines = markdown_table(cells, {"GET /products": 1.0}).splitlines()
    assert len(lines) == 4
    assert lines[2] == "| GET /products | 16 | 1 | 747 | 19.87 | 1020.00 | 7482 | 12 | 5 |"
    assert lines[3].startswith("| POST /orders | 64 | - | 747 |")


@pytest.mark.parametrize(
    "args", [["--connections", "1,x"], ["--workers", "0"], ["--duration", "-1"]]
)
def test_cli_refuses_bad_arguments(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert microshop(["benchmark", *args]) == 2
    assert capsys.readouterr().err.startswith("error: --")
