"""kubeconform's local schemas: the Kubernetes copy without network references, and CRD schemas."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from microshop_ci.core.tools import ToolError
from microshop_ci.k8s import schemas

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "spec": {
        "group": "security.istio.io",
        "names": {"kind": "PeerAuthentication"},
        "versions": [
            {
                "name": "v1",
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"mtls": {"type": "object", "properties": {}}},
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                                "properties": {"conditions": {"type": "array"}},
                            },
                        },
                    }
                },
            },
            {"name": "v1beta1", "schema": {"openAPIV3Schema": {"type": "object"}}},
        ],
    },
}


def test_a_crd_version_becomes_a_closed_schema_with_its_api_version_and_kind() -> None:
    schema = schemas.crd_schema(CRD, CRD["spec"]["versions"][0])  # type: ignore[index]
    assert schema == {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "mtls": {"type": "object", "properties": {}, "additionalProperties": False}
                },
            },
            "status": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"conditions": {"type": "array"}},
            },
            "apiVersion": {"type": "string", "enum": ["security.istio.io/v1"]},
            "kind": {"type": "string", "enum": ["PeerAuthentication"]},
            "metadata": {"type": "object"},
        },
    }


def _module(root: Path) -> Path:
    (root / "manifests" / "charts" / "base" / "files").mkdir(parents=True)
    documents: list[Any] = [CRD, None, {"kind": "ConfigMap"}]
    (root / "manifests" / "charts" / "base" / "files" / "crd-all.gen.yaml").write_text(
        yaml.safe_dump_all(documents)
    )
    kyverno = {
        **CRD,
        "spec": {**CRD["spec"], "group": "kyverno.io", "names": {"kind": "ClusterPolicy"}},
    }
    (root / "config" / "crds" / "kyverno").mkdir(parents=True)
    (root / "config" / "crds" / "kyverno" / "kyverno.io_clusterpolicies.yaml").write_text(
        yaml.safe_dump(kyverno)
    )
    return root


def test_crd_schemas_are_made_once_per_pinned_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _module(tmp_path / "module")
    asked: list[tuple[str, str]] = []

    def module_dir(name: str, version: str) -> Path:
        asked.append((name, version))
        return module

    monkeypatch.setattr(schemas, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(schemas, "_module_dir", module_dir)
    monkeypatch.setattr(
        schemas, "pin", lambda key: {"ISTIOCTL_VERSION": "v1.31", "KYVERNO_VERSION": "v1.19.0"}[key]
    )
    target = schemas.crd_schemas()
    assert target == tmp_path / "cache" / "crds" / "v1.31-v1.19.0"
    made = sorted(str(p.relative_to(target)) for p in target.rglob("*.json"))
    assert made == [
        "kyverno.io/clusterpolicy_v1.json",
        "kyverno.io/clusterpolicy_v1beta1.json",
        "security.istio.io/peerauthentication_v1.json",
        "security.istio.io/peerauthentication_v1beta1.json",
    ]
    kind = json.loads((target / "kyverno.io" / "clusterpolicy_v1beta1.json").read_text())
    assert kind["properties"]["apiVersion"] == {"type": "string", "enum": ["kyverno.io/v1beta1"]}
    assert asked == [("istio.io/istio", "v1.31"), ("github.com/kyverno/kyverno", "v1.19.0")]
    assert schemas.crd_schemas() == target  # made once: no second download
    assert len(asked) == 2


def test_the_kubernetes_copy_drops_ids_and_makes_references_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "kubernetes_validate"
    source = package / "kubernetes-json-schema" / "v1.35.0-local-strict"
    source.mkdir(parents=True)
    (source / "pod-v1.json").write_text(
        json.dumps(
            {
                "$id": "https://kubernetes.io/pod",
                "properties": {"spec": {"$ref": "/api/_definitions.json#/definitions/PodSpec"}},
            }
        )
    )
    (source / "_definitions.json").write_text(json.dumps({"definitions": {}}))
    fake = SimpleNamespace(__file__=str(package / "__init__.py"), __version__="1.37.0")
    monkeypatch.setattr(schemas, "kubernetes_validate", fake)
    monkeypatch.setattr(schemas, "CACHE", tmp_path / "cache")
    target = schemas.kubernetes_schemas()
    assert target == tmp_path / "cache" / "kubernetes-validate-1.37.0" / "v1.35.0"
    assert json.loads((target / "pod-v1.json").read_text()) == {
        "properties": {"spec": {"$ref": "_definitions.json#/definitions/PodSpec"}}
    }
    assert sorted(p.name for p in target.iterdir()) == [
        ".complete",
        "_definitions.json",
        "pod-v1.json",
    ]
    with pytest.raises(ToolError, match=r"^kubernetes-validate has no schemas for Kubernetes 1\.9"):
        schemas.kubernetes_schemas("1.9.0")


def test_schema_locations_name_kubernetes_first_then_the_crds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schemas, "kubernetes_schemas", lambda: tmp_path / "k8s")
    monkeypatch.setattr(schemas, "crd_schemas", lambda: tmp_path / "crds")
    assert schemas.schema_locations() == [
        f"{tmp_path}/k8s/{{{{.ResourceKind}}}}{{{{.KindSuffix}}}}.json",
        f"{tmp_path}/crds/{{{{.Group}}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json",
    ]


@pytest.mark.parametrize(
    ("code", "stdout", "stderr", "message"),
    [
        (0, '{"Dir": "/mod/istio@v1"}', "", None),
        (1, "not json", "proxy refused", "go mod download istio.io/istio@v1 failed: proxy refused"),
        (1, '{"Error": "unknown revision v1"}', "", "go mod download istio.io/istio@v1: unknown"),
    ],
)
def test_a_module_folder_comes_from_go_mod_download(
    monkeypatch: pytest.MonkeyPatch, code: int, stdout: str, stderr: str, message: str | None
) -> None:
    seen: list[list[str]] = []

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        seen.append(argv)
        return subprocess.CompletedProcess(argv, code, stdout, stderr)

    monkeypatch.setattr(schemas, "run", run)
    if message is None:
        assert schemas._module_dir("istio.io/istio", "v1") == Path("/mod/istio@v1")
    else:
        with pytest.raises(ToolError, match=f"^{message}"):
            schemas._module_dir("istio.io/istio", "v1")
    assert seen == [["go", "mod", "download", "-json", "istio.io/istio@v1"]]
