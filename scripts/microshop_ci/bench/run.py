"""Start FerretDB and api-service (real uvicorn workers), seed data, load it with wrk, report."""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from microshop_ci.bench.commands import Call, CommandCount, count_commands, markdown_commands
from microshop_ci.bench.wrk import Cell, markdown_table, parse_wrk
from microshop_ci.core.errors import UsageError
from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.core.tools import ToolError, pinned_tool

LUA_ORDERS = Path(__file__).with_name("orders.lua")
ADMIN_PASSWORD = "benchmark-admin-password"  # noqa: S105 - throwaway local benchmark account
PRODUCTS = 50


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"benchmark: {what} exited with code {proc.returncode}")
        with suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"benchmark: {what} did not answer {url} within {timeout} s")


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"benchmark: {what} exited with code {proc.returncode}")
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise SystemExit(f"benchmark: {what} did not listen on {port}")


@contextmanager
def _process(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
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


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker_peaks(pid: int) -> list[float]:
    """Peak RSS (VmHWM, MiB) of each uvicorn worker; the process itself when it has none."""
    workers = [
        child
        for child in _children(pid)
        if "spawn_main" in Path(f"/proc/{child}/cmdline").read_text(errors="replace")
    ]
    return [_peak_rss_mib(w) for w in workers] if workers else [_peak_rss_mib(pid)]


def _seed(url: str, email: str) -> tuple[str, list[str]]:
    """Products with ample stock, and a shopper's token."""
    with httpx.Client(base_url=url, timeout=30) as client:
        login = client.post("/auth/login", json={"email": email, "password": ADMIN_PASSWORD})
        login.raise_for_status()
        admin = {"Authorization": f"Bearer {login.json()['token']}"}
        ids = []
        for n in range(PRODUCTS):
            body = {
                "name": f"Product {n}",
                "description": "x" * 80,
                "price": 100 + n,
                "stock": 1_000_000,
            }
            created = client.post("/products", json=body, headers=admin)
            created.raise_for_status()
            ids.append(created.json()["id"])
        shopper = {"email": "shopper@bench.example.com", "password": "shopper-password"}
        registered = client.post("/auth/register", json=shopper)
        registered.raise_for_status()
        return registered.json()["token"], ids


def _wrk(url: str, connections: int, duration: int, lua: Path | None, env: dict[str, str]) -> str:
    args = ["wrk", "--latency", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{duration}s"]
    if lua is not None:
        args += ["-s", str(lua)]
    result = subprocess.run([*args, url], capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        raise SystemExit(f"benchmark: wrk failed: {result.stderr.strip()}")
    return result.stdout


def _machine() -> str:
    model = "unknown CPU"
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    python = platform.python_version()
    return f"{os.cpu_count()} cores ({model}), Linux {platform.release()}, Python {python}"


def _load() -> str:
    with suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"  # pragma: no cover - Linux always has /proc/loadavg


def _commands(env: dict[str, str], token: str, ids: list[str]) -> list[CommandCount]:
    """Commands per request of each endpoint, from an in-process app on the same database."""
    from api_service.config import Settings  # noqa: PLC0415 - the benchmarked code, loaded late
    from api_service.main import create_app  # noqa: PLC0415

    settings = Settings(
        mongodb_uri=env["MONGODB_URI"],
        jwt_private_key_file=Path(env["JWT_PRIVATE_KEY_FILE"]),
        log_level="WARNING",
    )
    user = {"Authorization": f"Bearer {token}"}

    def order(client: httpx.AsyncClient) -> Any:
        body = {"items": [{"productId": random.choice(ids), "qty": 1}]}  # noqa: S311 - load mix
        return client.post(
            "/orders", json=body, headers={**user, "Idempotency-Key": str(uuid.uuid4())}
        )

    calls: list[tuple[str, Call]] = [
        ("GET /products", lambda client: client.get("/products")),
        ("GET /products/{id}", lambda client: client.get(f"/products/{ids[0]}")),
        ("POST /orders", order),
        ("GET /orders/me", lambda client: client.get("/orders/me", headers=user)),
        ("GET /health", lambda client: client.get("/health")),
    ]
    counts = count_commands(lambda: create_app(settings), calls)
    if "stock_writes" in Settings.model_fields:
        # The MongoDB path (no lease), forced here: one request at a time, so FerretDB's
        # non-atomic conditional update cannot oversell, and the count is what MongoDB sees.
        forced = settings.model_copy(update={"stock_writes": "conditional"})
        mongodb_path: list[tuple[str, Call]] = [("POST /orders (MongoDB path)", order)]
        counts += count_commands(lambda: create_app(forced), mongodb_path)
    return counts


def run(workers: int, duration: int, connections: list[int], out: Path) -> str:
    """The whole benchmark; returns the Markdown report (also written to out)."""
    for tool in ("wrk", "openssl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"benchmark: {tool} is not installed (scripts/setup installs it)")
    try:
        ferretdb = pinned_tool("ferretdb")
    except ToolError as err:
        raise SystemExit(f"benchmark: {err}") from None
    with tempfile.TemporaryDirectory(prefix="microshop-bench-") as tmp:
        work = Path(tmp)
        key = work / "jwt.pem"
        subprocess.run(
            [
                "openssl",
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                str(key),
            ],
            check=True,
            capture_output=True,
        )
        (work / "admin-password").write_text(ADMIN_PASSWORD + "\n")
        db_port, api_port = _free_port(), _free_port()
        (work / "db").mkdir()
        db_args = [
            ferretdb, "--handler=sqlite", f"--sqlite-url=file:{work}/db/", "--telemetry=disable",
            f"--state-dir={work}",
            f"--listen-addr=127.0.0.1:{db_port}", "--log-level=warn", "--debug-addr=-",
        ]  # fmt: skip
        env = {
            **os.environ,
            "MONGODB_URI": f"mongodb://127.0.0.1:{db_port}/",
            "JWT_PRIVATE_KEY_FILE": str(key),
            "ADMIN_EMAIL": "admin@bench.example.com",
            "ADMIN_PASSWORD_FILE": str(work / "admin-password"),
            "PORT": str(api_port),
            "HOST": "127.0.0.1",
            "WORKERS": str(workers),
            "LOG_LEVEL": "WARNING",
        }
        url = f"http://127.0.0.1:{api_port}"
        with _process(db_args, work / "ferretdb.log") as db:
            _wait_for_port(db_port, db, "FerretDB")
            with _process([sys.executable, "-m", "api_service"], work / "api.log", env) as api:
                _wait_for(f"{url}/ready", api, "api-service")
                token, ids = _seed(url, "admin@bench.example.com")
                wrk_env = {**os.environ, "BENCH_TOKEN": token, "BENCH_PRODUCTS": ",".join(ids)}
                cells: list[Cell] = []
                load_before = _load()
                for endpoint, path, lua in (
                    ("GET /products", "/products", None),
                    ("POST /orders", "/orders", LUA_ORDERS),
                ):
                    _wrk(url + path, 16, 3, lua, wrk_env)  # warm-up, not reported
                    for conns in connections:
                        output = _wrk(url + path, conns, duration, lua, wrk_env)
                        cells.append(Cell(endpoint, conns, parse_wrk(output)))
                        print(f"{endpoint} c={conns}: {cells[-1].result}", file=sys.stderr)
                peaks = worker_peaks(api.pid)
                load_after = _load()
                counts = _commands(env, token, ids)
                print(markdown_commands(counts), file=sys.stderr)
    report = "\n".join(
        [
            f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {_machine()}.",
            f"api-service: {workers} uvicorn worker(s); FerretDB (SQLite) and wrk on the same"
            f" machine; {duration} s per cell after a 3 s warm-up per endpoint.",
            f"GET /products returns the first page (50 products); POST /orders orders 1 unit of a"
            f" random one of {PRODUCTS} products.",
            f"Load average (1/5/15 min) before: {load_before}; after: {load_after}.",
            "",
            markdown_table(cells, {c.endpoint: c.per_request for c in counts}),
            "",
            "Database commands per request (PyMongo command monitoring, in-process app on the"
            " same database, 50 requests per endpoint after one warm-up request):",
            "",
            markdown_commands(counts),
            "",
            "Peak RSS per worker (VmHWM): " + ", ".join(f"{mib:.0f} MiB" for mib in peaks) + ".",
        ]
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report + "\n")
    return report


def _connections(text: str) -> list[int]:
    """--connections: a comma-separated list of positive numbers."""
    try:
        return [int(c) for c in text.split(",")]
    except ValueError:
        raise UsageError(
            f"--connections: {text!r} is not a comma-separated list of numbers"
        ) from None


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop benchmark [--workers N] [--duration S] [--connections 1,16,64] [--out FILE]`."""
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10, help="seconds per cell")
    parser.add_argument("--connections", default="1,16,64")
    default_out = REPO_ROOT / "reports" / "benchmarks" / "api-service.md"
    parser.add_argument("--out", type=Path, default=default_out)


def run_command(args: argparse.Namespace) -> int:
    """Measure every cell and print the report."""
    connections = _connections(args.connections)
    if args.workers < 1 or args.duration < 1 or any(c < 1 for c in connections):
        raise UsageError("--workers, --duration and --connections must be positive")
    if shutil.which("wrk") is None:
        raise ToolError("wrk is not installed: run scripts/setup")
    print(run(args.workers, args.duration, connections, args.out))
    return 0
