"""scripts/validate-manifests: clean overlays pass; each check fails on its own broken manifest."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from microshop_ci.admission import validate
from microshop_ci.k8s import overlay
from microshop_ci.k8s.common import REPO_ROOT, overlays


def _rendered(name: str) -> list[dict[str, Any]]:
    return overlay.documents(overlay.build(name))


def _find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def _write(tmp_path: Path, docs: list[dict[str, Any]]) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=True))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("validate")


@pytest.mark.parametrize("name", ["kind", "production"])
def test_every_overlay_passes_every_check(name: str, work: Path) -> None:
    assert overlays() == ["kind", "production"]
    assert validate.validate_overlay(name, work) == []


def test_the_rendered_policies_match_kyvernos_schema(work: Path) -> None:
    assert validate.validate_policies(work) == []


def test_a_schema_error_fails_kubeconform_only(tmp_path: Path) -> None:
    docs = _rendered("kind")
    _find(docs, "Deployment", "api-service")["spec"]["replica"] = 2  # typo of replicas
    findings = validate.validate_file(_write(tmp_path, docs), "fixture")
    assert [(f.rule_id, f.target) for f in findings] == [("kubeconform", "Deployment/api-service")]
    assert "replica" in findings[0].message


def test_a_privileged_container_fails_kube_linter(tmp_path: Path) -> None:
    docs = _rendered("kind")
    deployment = _find(docs, "Deployment", "client-service")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    findings = validate.validate_file(_write(tmp_path, docs), "fixture")
    assert {(f.rule_id, f.target) for f in findings} == {
        ("kube-linter:privileged-container", "Deployment/microshop/client-service"),
        ("kube-linter:privilege-escalation-container", "Deployment/microshop/client-service"),
    }


def test_a_virtualservice_on_a_missing_gateway_fails_istioctl_analyze(tmp_path: Path) -> None:
    docs = _rendered("production")
    _find(docs, "VirtualService", "client-service")["spec"]["gateways"] = ["no-such-gateway"]
    findings = validate.validate_file(_write(tmp_path, docs), "fixture")
    assert {(f.rule_id, f.target, f.severity.label) for f in findings} == {
        ("istioctl:IST0101", "VirtualService/microshop/client-service", "high"),
        ("istioctl:IST0132", "VirtualService/microshop/client-service", "medium"),
    }


def test_the_cli_names_file_resource_and_check_and_writes_json(tmp_path: Path) -> None:
    docs = _rendered("kind")
    _find(docs, "Deployment", "api-service")["spec"]["replica"] = 2
    broken = _write(tmp_path, docs)
    out = tmp_path / "findings.json"
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "validate-manifests"), "--file", str(broken), "--json",
         str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"FAIL {broken} Deployment/api-service [kubeconform]" in result.stdout
    findings = json.loads(out.read_text())
    assert [(f["check"], f["resource"], f["file"]) for f in findings] == [
        ("kubeconform", "Deployment/api-service", str(broken))
    ]
    assert set(findings[0]) == {"check", "resource", "file", "message", "severity"}


def test_an_unknown_overlay_is_a_usage_error() -> None:
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "validate-manifests"), "--overlay", "staging"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: unknown overlay 'staging' (known: kind, production)")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("tool", "body", "finding"),
    [
        ("kubeconform", "echo 'not json'; echo 'schema load failed' >&2; exit 1",
         "kubeconform: schema load failed"),
        ("kubeconform", "echo '{\"resources\": []}'; echo 'cannot read' >&2; exit 1",
         "kubeconform exited 1: cannot read"),
        ("kube-linter", "echo '{'; echo 'bad config' >&2; exit 1", "kube-linter: bad config"),
        ("kube-linter", "echo '{\"Reports\": []}'; echo 'panic' >&2; exit 2",
         "kube-linter exited 2: panic"),
        ("istioctl", "echo '[not json'; echo 'parse error' >&2; exit 1",
         "istioctl analyze: parse error"),
        ("istioctl", "echo 'no messages'; echo 'crashed' >&2; exit 3",
         "istioctl analyze exited 3: crashed\n"),
    ],
)  # fmt: skip
def test_a_validator_that_fails_on_its_own_is_a_finding_and_the_others_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool: str, body: str, finding: str
) -> None:
    stand_in = tmp_path / tool
    stand_in.write_text(f"#!/bin/sh\n{body}\n")
    stand_in.chmod(0o755)
    ok = {
        "kubeconform": "echo '{\"resources\": []}'",
        "kube-linter": "echo '{\"Reports\": []}'",
        "istioctl": "echo '[]'",
    }
    for name, answer in ok.items():
        if name != tool:
            (tmp_path / name).write_text(f"#!/bin/sh\n{answer}\n")
            (tmp_path / name).chmod(0o755)
        monkeypatch.setenv(f"MICROSHOP_TOOL_{name.upper().replace('-', '_')}", str(tmp_path / name))
    monkeypatch.setattr(
        validate.schemas, "schema_locations", lambda: ["/schemas/{{.ResourceKind}}"]
    )
    validate.pinned_tool.cache_clear()
    try:
        findings = validate.validate_file(tmp_path / "kind.yaml", "k8s/overlays/kind")
    finally:
        validate.pinned_tool.cache_clear()
    check = {
        "kubeconform": "kubeconform",
        "kube-linter": "kube-linter",
        "istioctl": "istioctl-analyze",
    }
    assert [(f.rule_id, f.target, f.path, f.message) for f in findings] == [
        (check[tool], "-", "k8s/overlays/kind", finding)
    ]
