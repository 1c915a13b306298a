"""The sensor's loop without the kernel: bpftrace's records in, events and alerts out, counts and
one-line errors; the pins of its Debian packages read strictly."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from microshop_ci.cli import main as microshop
from microshop_ci.core.errors import ToolError
from microshop_ci.runtime.cli import RULES
from microshop_ci.runtime.rules import load
from microshop_ci.runtime.sensor import bpftrace, debs, run
from microshop_ci.runtime.sensor.containers import ContainerInfo, Enricher

ID = "ab" * 32


class Engine:
    """A stand-in engine: every container is a pod in the microshop namespace."""

    def describe(self, container_id: str) -> ContainerInfo:
        return ContainerInfo("app", "api-service", None, "api-1", "microshop")


def sensor(events: io.StringIO | None = None) -> tuple[run.Sensor, io.StringIO]:
    alerts = io.StringIO()
    made = run.Sensor(load(RULES), alerts, events)
    made.enricher = Enricher(Engine())
    return made, alerts


def test_records_become_events_alerts_and_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = io.StringIO()
    made, alerts = sensor(events)
    stream = io.StringIO(
        "\n".join(
            [
                json.dumps({"type": "attached_probes", "data": {"probes": 10}}),
                "",
                "not json",
                json.dumps({"type": "printf", "data": f"exec\t7\t6\t0\tsh\trunc\t{ID}\t/bin/sh\n"}),
                json.dumps({"type": "printf", "data": "fork\t1\n"}),
                json.dumps({"type": "lost_events", "data": {"events": 3}}),
            ]
        )
    )
    ready = tmp_path / "ready"
    for record in run.records(stream):
        made.record(record, ready)
    assert ready.is_file()
    (event,) = [json.loads(line) for line in events.getvalue().splitlines()]
    assert (event["proc.name"], event["k8s.pod.name"], event["container.id"]) == (
        "sh", "api-1", ID[:12],
    )  # fmt: skip
    (alert,) = [json.loads(line) for line in alerts.getvalue().splitlines()]
    assert alert["rule"] == "Shell or interpreter in MicroShop container"
    assert made.summary() == "runtime-sensor: 1 events (execve 1), 1 alerts, 3 lost"
    assert capsys.readouterr().err.splitlines() == [
        "runtime-sensor: attached 10 probes",
        "runtime-sensor: bpftrace: not json",
        "runtime-sensor: not a sensor event: 'fork\\t1'",
    ]


def test_bpftrace_messages_are_forwarded_without_its_memlock_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run.forward_stderr(io.StringIO(f"ERROR: {run.NOISE}\n\nAttaching 10 probes...\n"))
    assert capsys.readouterr().err == "runtime-sensor: bpftrace: Attaching 10 probes...\n"


def test_the_sensor_refuses_a_bad_rule_file_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run.os, "geteuid", lambda: 0)
    bad = Path(__file__).parents[2] / "fixtures" / "runtime" / "unsupported-field.yaml"
    assert microshop(["runtime-sensor", "--rules", str(bad)]) == 2
    assert capsys.readouterr().err == (
        "error: tests/fixtures/runtime/unsupported-field.yaml: rule 'Shell with a terminal': "
        "field 'proc.tty' is outside the supported subset\n"
    )


def test_the_sensor_needs_root(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run.os, "geteuid", lambda: 1000)
    assert microshop(["runtime-sensor"]) == 2
    assert capsys.readouterr().err == (
        "error: runtime-sensor needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)\n"
    )


@pytest.mark.parametrize("value", ["0.17.0-1", "0.17.0-1 sha256:abc", " sha256:" + "a" * 64])
def test_a_deb_pin_must_name_version_and_digest(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setattr(debs, "pin", lambda key: value)
    with pytest.raises(ToolError, match=r"^BPFTRACE_DEB must read `VERSION sha256:DIGEST`"):
        debs.Deb.pinned("bpftrace", "BPFTRACE_DEB")


def test_the_committed_pins_name_every_package() -> None:
    pinned = [debs.Deb.pinned(name, key) for name, key in {**debs.BPFTRACE, **debs.BUSYBOX}.items()]
    assert [(d.name, d.version) for d in pinned] == [
        ("bpftrace", "0.17.0-1"),
        ("libbpfcc", "0.26.0+ds-1"),
        ("libbpf1", "1:1.1.2-0+deb12u1"),
        ("libclang1-14", "1:14.0.6-12"),
        ("libclang-cpp14", "1:14.0.6-12"),
        ("libllvm14", "1:14.0.6-12"),
        ("busybox-static", "1:1.35.0-4+deb12u1+b1"),
    ]


def test_tracefs_in_place_is_left_alone_and_one_that_cannot_be_mounted_is_named(
    tmp_path: Path,
) -> None:
    (tmp_path / "available_events").write_text("sched:sched_process_exec\n")
    bpftrace.ensure_tracefs(tmp_path)
    missing = tmp_path / "no-such-folder"
    with pytest.raises(
        ToolError, match=rf"^tracefs is not mounted at {missing} and could not be: "
    ):
        bpftrace.ensure_tracefs(missing)
