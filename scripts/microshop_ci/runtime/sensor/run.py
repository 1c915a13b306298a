"""`microshop runtime-sensor`: bpftrace's events as JSON, evaluated against the runtime rules.

    microshop runtime-sensor [--rules FILE] [--events FILE] [--alerts FILE] [--duration SECONDS]
                           [--keep-host] [--ready FILE]

Alerts go to stdout (or --alerts) as Falco's JSON output, one a line; --events also writes every
event. The host's own processes are dropped in the kernel unless --keep-host. SIGINT or SIGTERM
(or --duration) stops bpftrace; a summary line (events by kind, alerts, lost events) ends stderr.
Needs root: CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN to load the programs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any

from microshop_ci.core.errors import ToolError, UsageError
from microshop_ci.runtime.cli import RULES, shown
from microshop_ci.runtime.evaluate import evaluate
from microshop_ci.runtime.rules import RuleSet, load
from microshop_ci.runtime.sensor import bpftrace
from microshop_ci.runtime.sensor.containers import DockerEngine, Enricher
from microshop_ci.runtime.sensor.events import EventLineError, EventReader

NOISE = "couldn't set RLIMIT_MEMLOCK"  # bpftrace's warning; the kernel accounts BPF memory itself


def configure(parser: argparse.ArgumentParser) -> None:
    """The command line; see the module docstring."""
    parser.add_argument("--rules", type=Path, default=RULES)
    parser.add_argument("--events", type=Path, help="also write every event here (JSON lines)")
    parser.add_argument("--alerts", type=Path, help="alerts here instead of stdout")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--keep-host", action="store_true", help="keep the host's processes")
    parser.add_argument("--ready", type=Path, help="touch this file once the probes are attached")


class Sensor:
    """One run: bpftrace's JSON records in, events and alerts out, counts kept."""

    def __init__(self, rules: RuleSet, alerts: IO[str], events: IO[str] | None) -> None:
        self.rules = rules
        self.alerts = alerts
        self.events = events
        self.reader = EventReader()
        self.enricher = Enricher(DockerEngine())
        self.kinds: Counter[str] = Counter()
        self.alert_count = 0
        self.lost = 0

    def record(self, record: dict[str, Any], ready: Path | None) -> None:
        """One bpftrace JSON record: an event line, the attach notice or a lost-events count."""
        kind = record.get("type")
        if kind == "attached_probes":
            print(f"runtime-sensor: attached {record['data']['probes']} probes", file=sys.stderr)
            if ready is not None:
                ready.touch()
        elif kind == "lost_events":
            self.lost += int(record["data"]["events"])
        elif kind == "printf":
            self.line(str(record["data"]))

    def line(self, text: str) -> None:
        """One event: enriched, written, evaluated."""
        try:
            parsed = self.reader.event(text)
        except EventLineError as err:
            print(f"runtime-sensor: {err}", file=sys.stderr)
            return
        if parsed is None:
            return
        event = self.enricher.enrich(parsed)
        self.kinds[str(event["evt.type"])] += 1
        if self.events is not None:
            self.events.write(json.dumps(event, sort_keys=True) + "\n")
        for alert in evaluate(self.rules, event):
            self.alert_count += 1
            self.alerts.write(json.dumps(alert.to_json(), sort_keys=True) + "\n")
            self.alerts.flush()

    def summary(self) -> str:
        """The closing line on stderr."""
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.kinds.items())) or "none"
        total = sum(self.kinds.values())
        return (
            f"runtime-sensor: {total} events ({kinds}), {self.alert_count} alerts, {self.lost} lost"
        )


def records(stream: IO[str]) -> Iterator[dict[str, Any]]:
    """bpftrace's JSON records, one a line (anything else is reported and skipped)."""
    for line in stream:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            print(f"runtime-sensor: bpftrace: {line.strip()[:200]}", file=sys.stderr)
            continue
        if isinstance(record, dict):
            yield record


def forward_stderr(stream: IO[str]) -> None:
    """bpftrace's own messages to stderr, minus its one harmless warning."""
    for line in stream:
        if line.strip() and NOISE not in line:
            print(f"runtime-sensor: bpftrace: {line.rstrip()}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace, sensor: Sensor) -> int:
    """Start bpftrace, feed the sensor until bpftrace stops; its exit status."""
    bpftrace.ensure_tracefs()
    with tempfile.TemporaryDirectory(prefix="runtime-sensor-") as tmp:
        program = Path(tmp) / "program.bt"
        program.write_text(bpftrace.program_text(bpftrace.memory_subsys_index()))
        argv, env = bpftrace.command(program, args.keep_host)
        # bpftrace runs for the sensor's whole life with both outputs read as they come, which
        # core.tools' run_tool (waits) and spawn (output to a file) do not offer.
        proc = subprocess.Popen(  # nosec B603 -- the pinned bpftrace's argv, no shell
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        if proc.stdout is None or proc.stderr is None:  # pragma: no cover - both are PIPEs
            raise ToolError("bpftrace started without its output pipes")

        def stop(_signum: int = 0, _frame: FrameType | None = None) -> None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if args.duration:
            threading.Timer(args.duration, stop).start()
        threading.Thread(target=forward_stderr, args=(proc.stderr,), daemon=True).start()
        for record in records(proc.stdout):
            sensor.record(record, args.ready)
        return proc.wait()


def run_command(args: argparse.Namespace) -> int:
    """Check the rules and the privileges, then run until stopped."""
    if os.geteuid() != 0:
        raise UsageError("runtime-sensor needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)")
    rules = load(args.rules, shown(args.rules))
    with contextlib.ExitStack() as stack:
        alerts = stack.enter_context(args.alerts.open("a")) if args.alerts else sys.stdout
        events = stack.enter_context(args.events.open("a")) if args.events else None
        sensor = Sensor(rules, alerts, events)
        status = run(args, sensor)
        print(sensor.summary(), file=sys.stderr)
    if status not in (0, -signal.SIGINT):
        raise ToolError(f"bpftrace exited with status {status} (its messages above)")
    return 0
