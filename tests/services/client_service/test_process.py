"""The storefront as a real uvicorn process: health endpoints, the healthcheck module, its logs."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from client_service import healthcheck
from tests.conftest import free_port
from tests.services.client_service.conftest import RunningStorefront


def test_process_answers_health_and_reaches_the_api(storefront_process: RunningStorefront) -> None:
    with httpx.Client(base_url=storefront_process.base_url, timeout=10) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/ready").status_code == 200
        check = client.get("/check-api", headers={"X-Request-ID": "process-check-0001"})
        assert check.json()["status"] == "ok"
        assert "server" not in check.headers


def test_healthcheck_module_exits_0_when_healthy_and_1_when_not(
    storefront_process: RunningStorefront,
) -> None:
    def run(port: int) -> int:
        return subprocess.run(
            [sys.executable, "-m", "client_service.healthcheck"],
            env={"PORT": str(port)},
            timeout=30,
            check=False,
        ).returncode

    assert run(storefront_process.port) == 0
    assert run(free_port()) == 1


def test_healthcheck_main_reads_port(
    storefront_process: RunningStorefront, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", str(storefront_process.port))
    assert healthcheck.main() == 0
    monkeypatch.setenv("PORT", "not-a-port")
    assert healthcheck.main() == 2
    assert healthcheck.check(storefront_process.port, "/no-such-page") is False
    assert healthcheck.check(free_port()) is False


def test_process_logs_are_json_with_request_ids(storefront_process: RunningStorefront) -> None:
    with httpx.Client(base_url=storefront_process.base_url, timeout=10) as client:
        client.get("/health", headers={"X-Request-ID": "process-log-00042"})
    # The access line is written just after the response is sent: allow a bounded moment.
    access: list[dict[str, object]] = []
    for _ in range(50):
        text = storefront_process.log_path.read_text()
        # Only whole lines: the process may be half-way through writing the last one.
        complete = text[: text.rfind("\n") + 1].splitlines()
        lines = [json.loads(line) for line in complete]
        access = [line for line in lines if line.get("request_id") == "process-log-00042"]
        if access:
            break
        time.sleep(0.1)
    assert access, "no access log line carries the request id"
    assert access[-1]["path"] == "/health"
    assert access[-1]["status"] == 200
