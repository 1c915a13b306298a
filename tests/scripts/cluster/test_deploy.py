"""kind-deploy's order and guards, and kind-diagnostics' notes, over a kubectl that records."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from microshop_ci.cluster import deploy, diagnostics
from microshop_ci.core.gobuild import BuildError

FAKE = """#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_KUBECTL_CALLS"], "a") as calls:
    calls.write(json.dumps(args) + "\\n")
if args[:2] == ["get", "deployment,statefulset"]:
    print("deployment.apps/api-service\\nstatefulset.apps/mongodb")
elif "--previous" in args:
    print("previous terminated container not found", file=sys.stderr)
    sys.exit(1)
elif args[:2] == ["get", "pods"]:
    print("microshop   api-service-1\\nkyverno   kyverno-admission-1")
else:
    print("output of " + " ".join(args))
"""


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kubectl that records each call's arguments in calls.jsonl."""
    binary = tmp_path / "kubectl"
    binary.write_text(FAKE)
    binary.chmod(0o755)
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_KUBECTL_CALLS", str(calls))
    for module in (deploy, diagnostics):
        monkeypatch.setattr(module, "kubectl", lambda: str(binary))
    return calls


def _calls(path: Path) -> list[list[str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_policies_are_ready_before_secrets_and_the_shop(
    kubectl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = tmp_path / "images.json"
    images.write_text("{}")
    rendered: list[str] = []

    def render(what: str, out: Path, *_: object) -> None:
        rendered.append(what)
        out.write_text(
            "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\n" if what == "policies" else ""
        )

    monkeypatch.setattr(deploy, "render", render)
    secrets: list[argparse.Namespace] = []
    monkeypatch.setattr(deploy.secrets, "run_command", lambda args: secrets.append(args) or 0)
    monkeypatch.setenv("E2E_NAMESPACE", "shop")
    deploy.deploy(images, "kind", ["ferretdb"])
    calls = _calls(kubectl)
    assert calls[0][:3] == ["apply", "--server-side", "-f"]
    assert calls[0][3].endswith("policies.yaml")
    assert calls[1] == ["wait", "--for=condition=Ready", "--timeout=180s", "clusterpolicy", "--all"]
    assert calls[2] == ["create", "namespace", "shop", "--dry-run=client", "-o", "yaml"]
    assert calls[4][3].endswith("manifests.yaml")
    assert calls[-2:] == [
        ["rollout", "status", "-n", "shop", "deployment.apps/api-service", "--timeout=300s"],
        ["rollout", "status", "-n", "shop", "statefulset.apps/mongodb", "--timeout=300s"],
    ]
    assert rendered == ["policies", "manifests"]
    assert [(a.overlay_arg, a.namespace, a.database) for a in secrets] == [
        ("kind", "shop", "ferretdb")
    ]


def test_a_render_without_a_cluster_policy_stops_before_anything_is_applied(
    kubectl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = tmp_path / "images.json"
    images.write_text("{}")
    monkeypatch.setattr(deploy, "render", lambda what, out, *_: out.write_text("kind: ConfigMap\n"))
    with pytest.raises(BuildError, match="rendered no Kyverno ClusterPolicy: the cluster would"):
        deploy.deploy(images, "kind", [])
    assert not kubectl.exists()


def test_a_missing_images_file_is_a_usage_error(kubectl: Path, tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"^usage: scripts/kind-deploy --images FILE"):
        deploy.deploy(tmp_path / "none.json", "kind", [])
    assert not kubectl.exists()


def test_diagnostics_write_every_file_and_note_what_failed(
    kubectl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_kind(name: str) -> str:
        raise BuildError(f"scripts/tool {name} failed (exit 1)")

    monkeypatch.setattr(diagnostics, "tool", no_kind)
    out = tmp_path / "diag"
    diagnostics.diagnose(out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*diagnostics.KUBECTL, "logs", "kind-export.txt"]
    )
    assert "output of get events -A --sort-by=.lastTimestamp" in (out / "events.txt").read_text()
    logs = sorted(p.name for p in (out / "logs").iterdir())
    assert logs == [
        "kyverno.kyverno-admission-1.log",
        "kyverno.kyverno-admission-1.previous.log",
        "microshop.api-service-1.log",
        "microshop.api-service-1.previous.log",
    ]
    previous = (out / "logs" / "microshop.api-service-1.previous.log").read_text()
    assert "previous terminated container not found" in previous
    assert "failed (exit 1" in previous
    assert (out / "kind-export.txt").read_text() == "(scripts/tool kind failed (exit 1))\n"
