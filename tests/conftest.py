"""Session fixtures that start real things: the FerretDB database (MongoDB wire protocol)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from microshop_ci.core.tools import ToolError, pinned_tool

if TYPE_CHECKING:
    from tests.openbao import Bao
from microshop_ci.osv.db import default_zip

REPO_ROOT = Path(__file__).resolve().parent.parent
OSV_FIXTURE = REPO_ROOT / "tests" / "fixtures" / "osv" / "advisories"


def zip_osv_fixture(dest: Path) -> Path:
    """Zip the carried advisories (tests/fixtures/osv) as an OSV export: one `<id>.json` each."""
    path = dest / "PyPI-fixture.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for advisory in sorted(OSV_FIXTURE.glob("*.json")):
            archive.write(advisory, advisory.name)
    return path


@pytest.fixture(scope="session")
def osv_fixture_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The carried OSV fixture as an export zip (the same here and on GitHub)."""
    return zip_osv_fixture(tmp_path_factory.mktemp("osv"))


@pytest.fixture(scope="session", autouse=True)
def offline_osv_export(osv_fixture_zip: Path) -> Iterator[None]:
    """Offline advisories for the gates and pipeline tests: the full export where it exists
    (../shared/data/osv here, or MICROSHOP_OSV_ZIP), else the carried fixture (a GitHub
    checkout has no ../shared). Set in the environment so the scripts the tests run see it."""
    if default_zip().exists():
        yield
        return
    os.environ["MICROSHOP_OSV_ZIP"] = str(osv_fixture_zip)
    try:
        yield
    finally:
        os.environ.pop("MICROSHOP_OSV_ZIP", None)


# Sets the child's own Ctrl-C handling, then runs the module named by its first argument.
_INTERRUPTIBLE = (
    "import runpy, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)\n"
)


def interruptible_module(module: str, *args: str) -> list[str]:
    """argv of `python -m MODULE ARGS` for a child that a test stops with SIGINT.

    A suite started with `nohup ... &` runs with SIGINT ignored, every child inherits that, and
    Python then installs no KeyboardInterrupt handler, so the test's Ctrl-C would do nothing: the
    child installs Python's own handler itself before the module runs.
    """
    return [sys.executable, "-c", _INTERRUPTIBLE, module, *args]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    """Wait until something listens on 127.0.0.1:port, failing clearly if proc dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


def stop_process(proc: subprocess.Popen[Any], grace: float = 10) -> None:
    """Terminate a process started by a fixture; kill it if it does not stop within grace."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def loopback_http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve handler on 127.0.0.1 (a free port) in a thread for the block; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def tool_path(name: str) -> str:
    """Build (once, cached outside the clone) and return the path of a pinned tool."""
    try:
        return pinned_tool(name)
    except ToolError as err:
        pytest.fail(str(err))


@pytest.fixture(scope="session")
def mongodb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A MongoDB connection string for a real database.

    Uses MICROSHOP_TEST_MONGODB_URI when set (a real MongoDB 7, as in the PR workflow);
    otherwise starts FerretDB on SQLite in a temporary folder for the whole session.
    """
    external = os.environ.get("MICROSHOP_TEST_MONGODB_URI")
    if external:
        yield external
        return
    binary = tool_path("ferretdb")
    data = tmp_path_factory.mktemp("ferretdb")
    port = free_port()
    log = (data / "ferretdb.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            "--handler=sqlite",
            f"--sqlite-url=file:{data}/",
            f"--state-dir={data}",
            "--telemetry=disable",
            # No debug/metrics listener: its fixed port 8088 clashes between parallel sessions.
            "--debug-addr=-",
            f"--listen-addr=127.0.0.1:{port}",
            "--log-level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc, "FerretDB")
        yield f"mongodb://127.0.0.1:{port}/"
    finally:
        stop_process(proc)
        log.close()


SERIAL_MARKERS = ("docker",)  # Docker's one engine and the fixed ports 5000, 8000, 8080


def xdist_group(item: pytest.Item) -> str:
    """The pytest-xdist group of a test (scripts/test runs `-n 2 --dist loadgroup`).

    Every test that talks to Docker or owns the pipeline's fixed ports (the registry on
    127.0.0.1:5000 the policies admit, the smoke stack on 8000 and 8080) is in one group, so one
    worker runs them in order; every other test is grouped by its file, so a file's module and
    session fixtures (the gates over the repository, a registry of signed images) start once."""
    if any(item.get_closest_marker(marker) for marker in SERIAL_MARKERS):
        return "docker"
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its xdist group (a no-op without pytest-xdist's loadgroup)."""
    for item in items:
        item.add_marker(pytest.mark.xdist_group(xdist_group(item)))


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    """A real OpenBao dev server (tests/openbao.py) for the session, stopped after it."""
    from tests.openbao import start_bao  # noqa: PLC0415 - imports this module

    bao, proc = start_bao(tmp_path_factory.mktemp("openbao"))
    try:
        yield bao
    finally:
        stop_process(proc)
