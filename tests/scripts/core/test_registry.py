"""The local registry (scripts/registry): address, refusals, and a real start and stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from microshop_ci.core import registry
from microshop_ci.core.paths import LOCAL_DIR


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
    assert registry.main(["start"]) == 1
    assert capsys.readouterr().err == "error: usage: scripts/registry up|down|addr|status\n"


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
    cmd = [sys.executable, "-m", "microshop_ci.core.registry"]
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
