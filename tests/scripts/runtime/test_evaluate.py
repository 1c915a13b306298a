"""The committed rules over sensor-shaped events: each attack fires exactly its rule; the
service's own behaviour fires none; outputs render every field, `<NA>` for a missing one."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from microshop_ci.runtime.cli import RULES
from microshop_ci.runtime.evaluate import evaluate, evaluate_all
from microshop_ci.runtime.rules import load

RULESET = load(RULES)
POD = {
    "container.id": "4f1c2a9b8e7d",
    "container.image.digest": "sha256:" + "ab" * 32,
    "k8s.pod.name": "api-service-7d9f",
    "k8s.ns.name": "microshop",
    "evt.dir": "<",
    "user.uid": 65532,
    "proc.pname": "python3",
}
TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def event(**fields: Any) -> dict[str, Any]:
    """An event in the pod, with dotted names written as double underscores."""
    return {**POD, **{k.replace("__", "."): v for k, v in fields.items()}}


def fired(item: dict[str, Any]) -> list[str]:
    return [alert.rule for alert in evaluate(RULESET, item)]


ATTACKS = [
    (event(evt__type="execve", proc__name="sh", proc__exepath="/bin/sh"),
     "Shell or interpreter in MicroShop container"),
    (event(evt__type="execve", proc__name="perl", proc__exepath="/usr/bin/perl"),
     "Shell or interpreter in MicroShop container"),
    (event(evt__type="execve", proc__name="id", proc__exepath="/usr/bin/id"),
     "Unexpected process in MicroShop container"),
    (event(evt__type="connect", proc__name="python3", fd__sip="203.0.113.7", fd__sport=443),
     "Unexpected Network in Container"),
    (event(evt__type="openat", proc__name="python3", fd__name="/etc/ld.so.preload",
           evt__is_open_write=True), "Write below protected directory in MicroShop container"),
    (event(evt__type="openat", proc__name="python3", fd__name="/home/nonroot/app.py",
           evt__is_open_write=True), "Write below protected directory in MicroShop container"),
    (event(evt__type="openat", proc__name="cat", proc__exepath="/bin/cat", fd__name=TOKEN,
           evt__is_open_read=True),
     "Read of service account token or secret in MicroShop container"),
    (event(evt__type="setuid", proc__name="python3"), "Setuid or setgid in MicroShop container"),
    (event(evt__type="setresgid", proc__name="python3"), "Setuid or setgid in MicroShop container"),
    (event(evt__type="ptrace", proc__name="python3"), "Ptrace in MicroShop container"),
    (event(evt__type="execve", proc__name="apt-get", proc__exepath="/usr/bin/apt-get"),
     "Package manager or download tool in MicroShop container"),
    (event(evt__type="execve", proc__name="curl", proc__exepath="/usr/bin/curl"),
     "Package manager or download tool in MicroShop container"),
]  # fmt: skip

BENIGN = [
    event(evt__type="execve", proc__name="python3", proc__exepath="/usr/bin/python3"),
    event(evt__type="connect", proc__name="python3", fd__sip="10.96.4.2", fd__sport=27017),
    event(evt__type="connect", proc__name="python3", fd__sip="10.96.0.10", fd__sport=53),
    event(evt__type="connect", proc__name="python3", fd__sip="127.0.0.1", fd__sport=9999),
    event(evt__type="openat", proc__name="python3", fd__name="/data/upload",
          evt__is_open_write=True),
    event(evt__type="openat", proc__name="python3", fd__name="/etcetera", evt__is_open_write=True),
    event(evt__type="openat", proc__name="python3", proc__exepath="/usr/bin/python3",
          fd__name=TOKEN, evt__is_open_read=True),
    event(evt__type="openat", proc__name="python3", fd__name="/etc/hosts",
          evt__is_open_read=True),
    event(evt__type="setgid", proc__name="runc:[2:INIT]"),
    {**event(evt__type="execve", proc__name="sh"), "container.id": "host"},
    {**event(evt__type="execve", proc__name="sh"), "k8s.ns.name": "kube-system"},
]  # fmt: skip


@pytest.mark.parametrize(("item", "rule"), ATTACKS)
def test_each_attack_fires_exactly_its_rule(item: dict[str, Any], rule: str) -> None:
    assert fired(item) == [rule]


@pytest.mark.parametrize("item", BENIGN)
def test_the_service_and_other_namespaces_fire_nothing(item: dict[str, Any]) -> None:
    assert fired(item) == []


def test_the_output_renders_the_event_and_na_for_a_missing_field() -> None:
    item = event(evt__type="execve", proc__name="sh", proc__exepath="/bin/sh")
    del item["container.image.digest"]
    (alert,) = evaluate(RULESET, item)
    assert alert.output == (
        "Shell or interpreter started in a MicroShop container (proc.name=sh proc.exepath=/bin/sh"
        " proc.pname=python3 user.uid=65532 k8s.pod.name=api-service-7d9f k8s.ns.name=microshop"
        " container.id=4f1c2a9b8e7d container.image.digest=<NA>)"
    )
    record = alert.to_json()
    assert record["priority"] == "Critical"
    assert record["output_fields"]["container.image.digest"] is None
    assert record["output_fields"]["user.uid"] == 65532


def test_evaluate_all_keeps_the_order_of_events() -> None:
    alerts = evaluate_all(RULESET, [item for item, _ in ATTACKS] + BENIGN)
    assert [a.rule for a in alerts] == [rule for _, rule in ATTACKS]


def test_the_evaluate_command_writes_one_falco_json_alert_a_line() -> None:
    lines = "".join(json.dumps(item) + "\n" for item in (BENIGN[0], ATTACKS[-1][0], ATTACKS[0][0]))
    result = subprocess.run(
        [sys.executable, "-m", "microshop_ci", "runtime-rules", "evaluate", "--rules", str(RULES)],
        input=lines, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["rule"], r["priority"]) for r in records] == [
        ("Package manager or download tool in MicroShop container", "Error"),
        ("Shell or interpreter in MicroShop container", "Critical"),
    ]


def test_a_line_that_is_not_json_is_refused_naming_the_line(tmp_path: Any) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"evt.type": "execve"}\n[1]\n')
    result = subprocess.run(
        [sys.executable, "-m", "microshop_ci", "runtime-rules", "evaluate", str(path)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"error: {path}:2: not a JSON event: expected an object\n"
