"""The benchmark's own helpers: waiting (bounded), processes, peaks, seeding and its options.

The load run itself (FerretDB, uvicorn workers, wrk) is measured by hand, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from microshop_ci.bench import procs
from microshop_ci.bench import run as bench
from microshop_ci.bench.commands import CommandCount, markdown_commands
from microshop_ci.cli import main as microshop
from tests.conftest import free_port, loopback_http_server


def test_waiting_names_a_process_that_exited_before_answering(tmp_path: Path) -> None:
    proc = subprocess.Popen(["false"])
    proc.wait()
    with pytest.raises(SystemExit) as caught:
        procs.wait_for(f"http://127.0.0.1:{free_port()}/ready", proc, "api-service")
    assert str(caught.value) == "benchmark: api-service exited with code 1"
    with pytest.raises(SystemExit) as caught:
        procs.wait_for_port(free_port(), proc, "FerretDB")
    assert str(caught.value) == "benchmark: FerretDB exited with code 1"


def test_waiting_for_an_answer_is_bounded() -> None:
    with procs.process(["sleep", "30"], Path(os.devnull)) as proc:
        url = f"http://127.0.0.1:{free_port()}/ready"
        with pytest.raises(SystemExit) as caught:
            procs.wait_for(url, proc, "api-service", timeout=0.5)
    assert str(caught.value) == f"benchmark: api-service did not answer {url} within 0.5 s"
    assert proc.returncode == -15  # the context manager stopped it


class _Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        del format, args


def test_waiting_returns_once_the_url_answers_200_and_the_port_listens(tmp_path: Path) -> None:
    log = tmp_path / "sleep.log"
    with loopback_http_server(_Ready) as url, procs.process(["sleep", "30"], log) as proc:
        procs.wait_for(f"{url}/ready", proc, "api-service", timeout=5)
        procs.wait_for_port(int(url.rsplit(":", 1)[1]), proc, "api-service")
    assert log.read_bytes() == b""


def test_peaks_are_read_for_the_process_itself_when_it_has_no_workers() -> None:
    with procs.process(["sleep", "30"], Path(os.devnull)) as proc:
        assert procs.children(proc.pid) == []
        peaks = procs.worker_peaks(proc.pid)
    assert len(peaks) == 1
    assert 0 < peaks[0] < 64  # MiB: `sleep` is small


def test_peaks_are_read_per_spawned_worker() -> None:
    code = (
        "import multiprocessing as mp, time\n"
        "if __name__ == '__main__':\n"
        "    mp.set_start_method('spawn')\n"
        "    workers = [mp.Process(target=time.sleep, args=(30,)) for _ in range(2)]\n"
        "    [w.start() for w in workers]\n"
        "    print('started', flush=True)\n"
        "    time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "started\n"
        # a worker is forked before it execs spawn_main: until then its command line is the
        # parent's, so wait (bounded) until both have exec'd
        deadline = time.monotonic() + 30
        while len(procs.worker_peaks(proc.pid)) != 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(procs.worker_peaks(proc.pid)) == 2
    finally:
        for child in procs.children(proc.pid):
            os.kill(child, 15)
        proc.terminate()
        proc.wait()


class _Api(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, Any, str | None]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.command, self.path, body, self.headers.get("Authorization")))
        answer: dict[str, Any] = {"token": "admin-token"}
        status = 200
        if self.path == "/products":
            answer, status = {"id": f"p{len(self.seen)}"}, 201
        elif self.path == "/auth/register":
            answer, status = {"token": "shopper-token", "user": {"id": "u1"}}, 201
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


def test_seeding_creates_the_products_and_a_shopper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "PRODUCTS", 2)
    _Api.seen = []
    with loopback_http_server(_Api) as url:
        seeded = bench._seed(url, "admin@bench.example.com")
    assert seeded == bench.Seeded("shopper-token", "u1", ["p2", "p3"])
    login, first, second, register = _Api.seen
    assert login == (
        "POST",
        "/auth/login",
        {"email": "admin@bench.example.com", "password": bench.ADMIN_PASSWORD},
        None,
    )
    assert first[1:] == (
        "/products",
        {"name": "Product 0", "description": "x" * 80, "price": 100, "stock": 1_000_000},
        "Bearer admin-token",
    )
    assert second[2]["price"] == 101
    assert register[1:3] == (
        "/auth/register",
        {"email": "shopper@bench.example.com", "password": "shopper-password"},
    )


def test_a_failed_wrk_run_stops_the_benchmark_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrk = tmp_path / "wrk"
    wrk.write_text(
        f'#!/bin/sh\necho "$*" > {tmp_path}/args\necho "unable to connect" >&2\nexit 1\n'
    )
    wrk.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with pytest.raises(SystemExit) as caught:
        bench._wrk("http://127.0.0.1:9/orders", 64, 10, Path("orders.lua"), dict(os.environ))
    assert str(caught.value) == "benchmark: wrk failed: unable to connect"
    assert (tmp_path / "args").read_text() == (
        "--latency -t2 -c64 -d10s -s orders.lua http://127.0.0.1:9/orders\n"
    )


def test_a_missing_load_tool_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SystemExit) as caught:
        bench.run(1, 1, [1], tmp_path / "out.md")
    assert str(caught.value) == "benchmark: wrk is not installed (scripts/setup installs it)"


def test_the_machine_and_load_lines_read_proc() -> None:
    assert bench._machine().startswith(f"{os.cpu_count()} cores (")
    assert len(bench._load().split()) == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--connections", "1,x"], "--connections: '1,x' is not a comma-separated list of numbers"),
        (["--workers", "0"], "--workers, --duration and --connections must be positive"),
        (["--connections", "16,0"], "--workers, --duration and --connections must be positive"),
    ],
)
def test_bad_options_are_refused_before_anything_starts(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert microshop(["benchmark", *argv]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def test_the_options_reach_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[tuple[int, int, list[int], Path]] = []

    def fake_run(workers: int, duration: int, connections: list[int], out: Path) -> str:
        seen.append((workers, duration, connections, out))
        return "report"

    monkeypatch.setattr(bench, "run", fake_run)
    out = tmp_path / "r.md"
    argv = ["--workers", "1", "--duration", "3", "--connections", "4,8", "--out", str(out)]
    assert microshop(["benchmark", *argv]) == 0
    assert seen == [(1, 3, [4, 8], out)]
    assert capsys.readouterr().out == "report\n"


def test_command_counts_read_per_request() -> None:
    counts = [
        CommandCount("GET /products", 50, 50, {"find products": 50}),
        CommandCount(
            "POST /orders", 50, 150, {"find users": 50, "update products": 50, "insert orders": 50}
        ),
    ]
    assert counts[1].per_request == 3
    assert markdown_commands(counts) == (
        "| endpoint | database commands per request | which |\n"
        "|---|---:|---|\n"
        "| GET /products | 1 | find products x1 |\n"
        "| POST /orders | 3 | find users x1, insert orders x1, update products x1 |"
    )
