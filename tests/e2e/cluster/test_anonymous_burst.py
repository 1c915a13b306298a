"""Anonymous requests cannot knock an api-service pod over: a burst against one pod, its limits.

32 concurrent anonymous requests (half registrations, half sign-ins for unknown emails) go to
ONE running api-service pod through a port-forward, each naming its own visitor address the way
the storefront does (the port-forward arrives from 127.0.0.1, which the pod trusts for that
header), so the limits let every one of them through to password hashing. While they run,
/health is asked every quarter second. Afterwards the container has not restarted, was not
OOMKilled, and each API worker's peak resident set (VmHWM, read inside the container) is under
half the container's memory limit, the share the local test holds a worker to
(tests/services/api_service/test_memory.py). The figures are printed for docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes.stream import stream

from tests.e2e.kube import ProbeResult, Settings, port_forward

pytestmark = pytest.mark.e2e

BURST = 32
HEALTH_INTERVAL = 0.25
MAX_HEALTH_CHECKS = 480  # two minutes of polling at most
REQUEST_TIMEOUT = 60.0
STATUS_READS = 5  # the kubelet reports a kill within seconds: read the pod this many times
MIB = 1024 * 1024
UNITS = {"Ki": 1024, "Mi": MIB, "Gi": 1024 * MIB}
CONTAINER = "api-service"

# Runs inside the api-service container (Python, no shell): each Python process's VmHWM but
# this one's, and the container cgroup's own peak where the kernel keeps it (cgroup v2).
PEAK_MEMORY = """
import json, os
workers = {}
for pid in os.listdir("/proc"):
    if not pid.isdigit() or int(pid) == os.getpid():
        continue
    try:
        lines = open(f"/proc/{pid}/status").read().splitlines()
    except OSError:
        continue
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    if fields.get("Name", "").strip().startswith("python") and "VmHWM" in fields:
        workers[pid] = int(fields["VmHWM"].split()[0]) * 1024
try:
    cgroup_peak = int(open("/sys/fs/cgroup/memory.peak").read())
except (OSError, ValueError):
    cgroup_peak = None
print("PROBE " + json.dumps({"status": 0, "body": json.dumps([workers, cgroup_peak])}))
"""


def memory_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity with a binary suffix (256Mi) in bytes."""
    return int(quantity[:-2]) * UNITS[quantity[-2:]]


def _container_status(pod: Any) -> Any:
    (status,) = [s for s in pod.status.container_statuses or [] if s.name == CONTAINER]
    return status


def _ready(pod: Any) -> bool:
    conditions = pod.status.conditions or []
    return pod.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in conditions
    )


def one_ready_pod(core: client.CoreV1Api, settings: Settings) -> Any:
    """A ready api-service pod (the burst goes to it alone)."""
    pods = core.list_namespaced_pod(
        settings.namespace, label_selector=f"app.kubernetes.io/name={CONTAINER}"
    ).items
    ready = [p for p in pods if _ready(p)]
    assert ready, f"no ready api-service pod in {settings.namespace}"
    return ready[0]


def peak_memory(core: client.CoreV1Api, namespace: str, pod: str) -> tuple[dict[str, int], Any]:
    """(VmHWM per Python process, the cgroup's memory.peak or None) inside the container."""
    output = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        namespace,
        container=CONTAINER,
        command=["python3", "-c", PEAK_MEMORY],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
    )
    result = ProbeResult.parse(str(output))
    assert result.status == 0, result
    workers, cgroup_peak = json.loads(result.body)
    return workers, cgroup_peak


async def burst_with_health_checks(url: str, run: str) -> tuple[Counter[int], list[int]]:
    """The burst's statuses, and the statuses of /health asked while it ran."""
    async with httpx.AsyncClient(
        base_url=url, timeout=REQUEST_TIMEOUT, limits=httpx.Limits(max_connections=BURST + 1)
    ) as api:
        burst = asyncio.gather(
            *(
                api.post(
                    "/auth/register" if n % 2 == 0 else "/auth/login",
                    json={"email": f"e2e-burst-{run}-{n}@example.com", "password": "e2e-burst-pw"},
                    headers={"X-Forwarded-For": f"198.51.100.{n + 1}"},
                )
                for n in range(BURST)
            )
        )
        health: list[int] = []
        while not burst.done():
            assert len(health) < MAX_HEALTH_CHECKS, "the burst outlasted the health polling"
            health.append((await api.get("/health")).status_code)
            await asyncio.sleep(HEALTH_INTERVAL)
        answers = await burst
    return Counter(a.status_code for a in answers), health


def test_an_anonymous_burst_neither_restarts_nor_oom_kills_the_pod(
    core: client.CoreV1Api, settings: Settings
) -> None:
    pod = one_ready_pod(core, settings)
    name = pod.metadata.name
    (spec,) = [c for c in pod.spec.containers if c.name == CONTAINER]
    limit = memory_bytes(spec.resources.limits["memory"])
    restarts = _container_status(pod).restart_count
    started = time.time()

    with port_forward(settings.namespace, f"pod/{name}", 8000) as url:
        statuses, health = asyncio.run(burst_with_health_checks(url, uuid.uuid4().hex[:8]))

    assert statuses == {201: BURST // 2, 401: BURST // 2}
    assert health, "/health was never asked while the burst ran"
    assert health == [200] * len(health)
    for _ in range(STATUS_READS):
        now = core.read_namespaced_pod(name, settings.namespace)
        status = _container_status(now)
        assert status.restart_count == restarts, f"{name} restarted: {status}"
        assert status.state.running is not None, f"{name} is not running: {status.state}"
        last = status.last_state.terminated if status.last_state else None
        if last is not None and last.finished_at is not None:
            assert last.finished_at.timestamp() < started or last.reason != "OOMKilled"
        time.sleep(1)

    workers, cgroup_peak = peak_memory(core, settings.namespace, name)
    shown = ", ".join(f"{v / MIB:.1f} MiB" for v in workers.values())
    container = "n/a" if cgroup_peak is None else f"{cgroup_peak / MIB:.1f} MiB"
    print(f"{name}: worker peak RSS {shown}; container memory.peak {container}; limit {limit}")
    assert workers, f"no Python process found in {name}"
    assert all(peak < limit // 2 for peak in workers.values()), (shown, limit)
