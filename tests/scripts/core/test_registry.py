"""The local registry (scripts/registry): address, refusals, and a real start and stop."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from microshop_ci.cli import main as microshop
from microshop_ci.core import registry
from microshop_ci.core.paths import LOCAL_DIR
from tests.conftest import REPO_ROOT, loopback_http_server, tool_path


def test_the_address_and_data_folder_default_to_loopback_and_local(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MICROSHOP_REGISTRY", "")
    monkeypatch.delenv("MICROSHOP_REGISTRY_DATA", raising=False)
    assert registry.address() == "127.0.0.1:5000"
    assert registry.data_dir() == LOCAL_DIR / "registry"
    monkeypatch.setenv("MICROSHOP_REGISTRY", "localhost:5001")
    assert registry.address() == "localhost:5001"


def test_only_a_loopback_registry_is_started(tmp_path: Path) -> None:
    with pytest.raises(registry.RegistryError, match=r"only a loopback registry; .*=ghcr.io$"):
        registry.up("ghcr.io", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_command_prints_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert microshop(["registry", "start"]) == 2
    assert capsys.readouterr().err == (
        "error: microshop registry: argument action: invalid choice: 'start' "
        "(choose from 'up', 'down', 'addr', 'status') (see microshop registry --help)\n"
    )


def test_down_without_a_started_registry_says_so(tmp_path: Path) -> None:
    assert registry.down(tmp_path) == "no registry started by scripts/registry"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_up_starts_a_registry_that_outlives_the_command_and_down_stops_it(
    tmp_path: Path,
) -> None:
    addr = f"127.0.0.1:{_free_port()}"
    env = {**os.environ, "MICROSHOP_REGISTRY": addr, "MICROSHOP_REGISTRY_DATA": str(tmp_path)}
    cmd = [sys.executable, "-m", "microshop_ci", "registry"]
    started = subprocess.run(
        [*cmd, "up"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    try:
        assert started.returncode == 0, started.stderr
        assert started.stderr.endswith(f"registry up on {addr} (data: {tmp_path})\n")
        assert registry.answers(addr)
        again = subprocess.run(
            [*cmd, "up"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert again.stderr.endswith(f"registry answers on {addr}\n")
    finally:
        stopped = subprocess.run(
            [*cmd, "down"], env=env, capture_output=True, text=True, check=False
        )
    pid = stopped.stderr.rsplit("pid ", 1)[-1].rstrip(")\n")
    assert stopped.stderr.endswith(f"registry stopped (pid {pid})\n")
    assert not (tmp_path / "registry.pid").exists()
    # down returns once the process has exited: the address is free for the next job
    assert not registry.answers(addr)


class _Unauthorized(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        del args


def test_a_registry_that_asks_for_credentials_answers_and_a_closed_port_does_not() -> None:
    with loopback_http_server(_Unauthorized) as url:
        assert registry.answers(url.removeprefix("http://"))
    assert not registry.answers(f"127.0.0.1:{_free_port()}")


def _registry(data: Path, addr: str, command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MICROSHOP_REGISTRY": addr, "MICROSHOP_REGISTRY_DATA": str(data)}
    return subprocess.run(
        [str(REPO_ROOT / "scripts" / "registry"), command],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_registry_started_on_another_jobs_storage_serves_the_same_digest(tmp_path: Path) -> None:
    """The release's push job starts its loopback registry on the storage the build job uploaded
    (an artifact: the storage folder alone), and copies the gated digests from it."""
    crane = tool_path("crane")
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    build_addr, push_addr = f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"
    assert _registry(tmp_path / "build", build_addr, "up").returncode == 0
    try:
        pushed = subprocess.run(
            [crane, "append", "-f", str(layer), "-t", f"{build_addr}/api-service:gated"],
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout.strip()  # fmt: skip
    finally:
        assert _registry(tmp_path / "build", build_addr, "down").returncode == 0
    digest = pushed.split("@", 1)[1]
    shutil.copytree(tmp_path / "build" / "storage", tmp_path / "push" / "storage")
    started = _registry(tmp_path / "push", push_addr, "up")
    try:
        assert started.returncode == 0, started.stderr
        served = subprocess.run(
            [crane, "digest", f"{push_addr}/api-service:gated"],
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout.strip()  # fmt: skip
    finally:
        _registry(tmp_path / "push", push_addr, "down")
    assert served == digest
