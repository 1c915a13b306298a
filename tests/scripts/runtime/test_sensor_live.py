"""The sensor on this host's kernel against a real container: a shell exec'd into it, a write
under /etc, a token read, a process, a download tool and an outbound connection each fire
exactly their rule, naming the container and its pod; nothing else in it raises an alert."""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from microshop_ci.runtime.sensor.debs import BUSYBOX, unpacked
from tests.conftest import REPO_ROOT, stop_process

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(os.geteuid() != 0, reason="the sensor loads BPF programs: needs root"),
    pytest.mark.skipif(
        not Path("/sys/kernel/btf/vmlinux").is_file(),
        reason="the kernel has no BTF (/sys/kernel/btf/vmlinux): bpftrace cannot read its types",
    ),
]

SCRIPTS = REPO_ROOT / "scripts"
TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
APPLETS = ("sh", "cat", "id", "nc", "sleep")
POD, NAMESPACE = "probe-7c9d", "microshop"
ATTACH_TIMEOUT = 120  # bpftrace compiles its program with LLVM first
ALERT_TIMEOUT = 30


def run(*args: str, stdin: bytes | None = None, timeout: float = 300) -> str:
    """A command that must succeed; its stdout."""
    result = subprocess.run(list(args), input=stdin, capture_output=True, check=False,
                            timeout=timeout)  # fmt: skip
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {result.returncode}: {result.stderr.decode()[-2000:]}"
        )
    return result.stdout.decode()


def probe_rootfs() -> bytes:
    """A tar of a tiny root filesystem: Debian's static busybox and its applets, nothing else."""
    busybox = unpacked(BUSYBOX, "busybox") / "bin" / "busybox"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("bin", "etc", "tmp"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(busybox, "bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    return buffer.getvalue()


@dataclass(frozen=True)
class Probe:
    """The running container: its name and its id as Falco's container.id shows it."""

    name: str
    short_id: str


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    """A container labelled as a pod in the microshop namespace, with a token mounted."""
    if shutil.which("docker") is None:
        pytest.fail("docker is not installed: run scripts/setup")
    run(str(SCRIPTS / "dockerd-up"))
    image = f"microshop-runtime-probe:{secrets.token_hex(4)}"
    run("docker", "import", "-", image, stdin=probe_rootfs())
    token = tmp_path_factory.mktemp("token") / "token"
    token.write_text(secrets.token_urlsafe(32) + "\n")
    name = f"runtime-probe-{secrets.token_hex(4)}"
    full_id = run(
        "docker", "run", "-d", "--name", name,
        "--label", f"io.kubernetes.pod.name={POD}",
        "--label", f"io.kubernetes.pod.namespace={NAMESPACE}",
        "-v", f"{token}:{TOKEN_PATH}:ro", image, "sleep", "600",
    ).strip()  # fmt: skip
    try:
        yield Probe(name, full_id[:12])
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False, timeout=60)
        subprocess.run(["docker", "rmi", image], capture_output=True, check=False, timeout=60)


def wait_for(path: Path, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    """Poll until path exists, failing with the sensor's stderr if it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the sensor did not {what} within {timeout} s (exit {proc.poll()})")
        time.sleep(0.2)


def alerts_of(path: Path, short_id: str) -> list[dict[str, Any]]:
    """The alerts written so far that name the container."""
    lines = path.read_text().splitlines() if path.exists() else []
    records = [json.loads(line) for line in lines]
    return [r for r in records if r["output_fields"].get("container.id") == short_id]


EXPECTED = Counter(
    {
        "Shell or interpreter in MicroShop container": 1,
        "Write below protected directory in MicroShop container": 1,
        "Read of service account token or secret in MicroShop container": 1,
        "Unexpected process in MicroShop container": 1,
        "Package manager or download tool in MicroShop container": 1,
        "Unexpected Network in Container": 1,
    }
)


@pytest.fixture(scope="module")
def attack(probe: Probe, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The sensor started, the attacks run in the probe, the alerts that named it."""
    work = tmp_path_factory.mktemp("sensor")
    alerts, events, ready = work / "alerts.jsonl", work / "events.jsonl", work / "ready"
    with (work / "stderr").open("wb") as stderr:
        sensor = subprocess.Popen(
            [sys.executable, "-m", "microshop_ci", "runtime-sensor", "--alerts", str(alerts),
             "--events", str(events), "--ready", str(ready)],
            stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    try:
        wait_for(ready, sensor, "attach its probes", ATTACH_TIMEOUT)
        script = f"echo planted > /etc/planted; read token < {TOKEN_PATH}"
        run("docker", "exec", probe.name, "sh", "-c", script)
        run("docker", "exec", probe.name, "id")
        subprocess.run(["docker", "exec", probe.name, "nc", "-w", "1", "192.0.2.10", "4444"],
                       capture_output=True, check=False, timeout=60)  # fmt: skip
        deadline = time.monotonic() + ALERT_TIMEOUT
        while Counter(a["rule"] for a in alerts_of(alerts, probe.short_id)) != EXPECTED:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        stop_process(sensor)  # type: ignore[arg-type]
    print((work / "stderr").read_text())  # in the test's output when it fails
    return alerts_of(alerts, probe.short_id)


def test_each_attack_fires_exactly_its_rule(attack: list[dict[str, Any]]) -> None:
    assert Counter(a["rule"] for a in attack) == EXPECTED


def test_every_alert_names_the_pod_namespace_and_container(
    attack: list[dict[str, Any]], probe: Probe
) -> None:
    for alert in attack:
        fields = alert["output_fields"]
        assert (fields["k8s.pod.name"], fields["k8s.ns.name"]) == (POD, NAMESPACE)
        assert f"container.id={probe.short_id}" in alert["output"]


def test_the_alerts_carry_what_the_attack_touched(attack: list[dict[str, Any]]) -> None:
    by_rule = {a["rule"]: a["output_fields"] for a in attack}
    assert by_rule["Shell or interpreter in MicroShop container"]["proc.name"] == "sh"
    written = by_rule["Write below protected directory in MicroShop container"]
    assert written["fd.name"] == "/etc/planted"
    read = by_rule["Read of service account token or secret in MicroShop container"]
    assert (read["fd.name"], read["proc.name"]) == (TOKEN_PATH, "sh")
    assert by_rule["Unexpected process in MicroShop container"]["proc.exepath"] == "/bin/id"
    assert by_rule["Package manager or download tool in MicroShop container"]["proc.name"] == "nc"
    network = by_rule["Unexpected Network in Container"]
    assert (network["fd.sip"], network["fd.sport"]) == ("192.0.2.10", 4444)
