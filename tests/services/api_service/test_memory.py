"""One real API worker's peak memory under an anonymous burst stays within its share of the pod.

`python -m api_service` with WORKERS=1 (the process is the worker) on FerretDB, production
password hashing. 32 concurrent anonymous requests, half registrations and half sign-ins for
unknown emails, each from its own visitor address as the storefront forwards it, so the limits
let all of them through to password hashing. The worker's peak resident set (VmHWM) must stay
under the api-service pod's memory limit divided by the two workers a pod may run.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from pymongo import MongoClient

from tests.conftest import REPO_ROOT, free_port, stop_process, wait_for_port
from tests.services.api_service.test_process import base_env

DEPLOYMENT = REPO_ROOT / "k8s" / "base" / "api-service" / "deployment.yaml"
WORKERS_PER_POD = 2  # the most a pod may run: each must fit in half of the limit
BURST = 32
MIB = 1024 * 1024
UNITS = {"Mi": MIB, "Gi": 1024 * MIB}


def pod_memory_limit() -> int:
    """The api-service container's memory limit in bytes, read from the base manifest."""
    deployment = yaml.safe_load(DEPLOYMENT.read_text())
    (container,) = [
        c
        for c in deployment["spec"]["template"]["spec"]["containers"]
        if c["name"] == "api-service"
    ]
    limit: str = container["resources"]["limits"]["memory"]
    return int(limit[:-2]) * UNITS[limit[-2:]]


def peak_rss(pid: int) -> int:
    """VmHWM (peak resident set) of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


@pytest.fixture
def worker(mongodb_uri: str, signing_key_file: Path, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """One api-service worker process on its own database: (base URL, pid)."""
    port, database = free_port(), f"m_{uuid.uuid4().hex[:12]}"
    env = base_env(
        MONGODB_URI=mongodb_uri,
        MONGODB_DATABASE=database,
        JWT_PRIVATE_KEY_FILE=str(signing_key_file),
        PORT=str(port),
        WORKERS="1",
        LOG_LEVEL="WARNING",
    )
    with (tmp_path / "api.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api_service"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, proc, "api-service", timeout=60)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        stop_process(proc)
        client: MongoClient[dict[str, object]] = MongoClient(mongodb_uri)
        client.drop_database(database)
        client.close()


async def test_a_worker_peaks_under_its_share_of_the_pod_limit(worker: tuple[str, int]) -> None:
    url, pid = worker
    bound = pod_memory_limit() // WORKERS_PER_POD
    assert bound == 128 * MIB  # the manifest's 256Mi, halved
    run = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(
        base_url=url, timeout=120, limits=httpx.Limits(max_connections=BURST)
    ) as client:
        assert (await client.get("/health")).status_code == 200
        idle = peak_rss(pid)
        requests = [
            client.post(
                "/auth/register" if n % 2 == 0 else "/auth/login",
                json={"email": f"burst-{run}-{n}@example.com", "password": "burst-password"},
                headers={"X-Forwarded-For": f"198.51.100.{n + 1}"},
            )
            for n in range(BURST)
        ]
        answers = await asyncio.gather(*requests)
        assert Counter(a.status_code for a in answers) == {201: BURST // 2, 401: BURST // 2}
        assert (await client.get("/health")).status_code == 200
    peak = peak_rss(pid)
    print(f"api-service worker peak RSS: {peak / MIB:.1f} MiB (before the burst {idle / MIB:.1f})")
    assert peak < bound, f"peak RSS {peak / MIB:.1f} MiB >= {bound / MIB:.0f} MiB"
