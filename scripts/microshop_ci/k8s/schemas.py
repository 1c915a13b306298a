"""Local JSON schemas for kubeconform: Kubernetes (kubernetes-validate's copy) and the CRDs we use.

kubernetes-validate ships the Kubernetes schemas with `$id`s on kubernetes.io and `$ref`s to
"/api/_definitions.json", which a file-based loader resolves on the network, so a copy is made
without the `$id`s and with the references relative to the file. Istio's and
Kyverno's CRDs come from their Go modules at the pinned versions (module cache, no network beyond
the module proxy) and become one schema per kind and version, closed where the CRD is closed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import yaml

from microshop_ci.core.cache import cache_root
from microshop_ci.core.pins import pin
from microshop_ci.core.tools import ToolError, run

KUBERNETES_VERSION = "1.35.0"
CACHE = cache_root() / "kubeconform-schemas"
CRD_SOURCES = {
    "ISTIOCTL_VERSION": ("istio.io/istio", ["manifests/charts/base/files/crd-all.gen.yaml"]),
    "KYVERNO_VERSION": (
        "github.com/kyverno/kyverno",
        ["config/crds/kyverno/kyverno.io_clusterpolicies.yaml"],
    ),
}
_ABSOLUTE_REF = '"/api/_definitions.json#'


def kubernetes_schemas(version: str = KUBERNETES_VERSION) -> Path:
    """A folder of strict Kubernetes schemas named KIND-GROUP-VERSION.json, made once."""
    package = Path(kubernetes_validate.__file__).parent
    source = package / "kubernetes-json-schema" / f"v{version}-local-strict"
    if not source.is_dir():
        raise ToolError(f"kubernetes-validate has no schemas for Kubernetes {version}")
    target = CACHE / f"kubernetes-validate-{kubernetes_validate.__version__}" / f"v{version}"
    if not (target / ".complete").exists():
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for schema in source.glob("*.json"):
            document = json.loads(schema.read_text().replace(_ABSOLUTE_REF, '"_definitions.json#'))
            document.pop("$id", None)  # so that references resolve next to the file
            (staging / schema.name).write_text(json.dumps(document))
        (staging / ".complete").touch()
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target


def _close(node: Any) -> Any:
    """Forbid unknown fields wherever the CRD lists properties and keeps no unknown fields."""
    if isinstance(node, dict):
        closed = {k: _close(v) for k, v in node.items()}
        if (
            "properties" in closed
            and "additionalProperties" not in closed
            and not closed.get("x-kubernetes-preserve-unknown-fields")
        ):
            closed["additionalProperties"] = False
        return closed
    if isinstance(node, list):
        return [_close(v) for v in node]
    return node


def _module_dir(module: str, version: str) -> Path:
    result = run(["go", "mod", "download", "-json", f"{module}@{version}"])
    try:
        info = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise ToolError(f"go mod download {module}@{version} failed: {result.stderr}") from exc
    if result.returncode != 0 or "Dir" not in info:
        raise ToolError(f"go mod download {module}@{version}: {info.get('Error', '')}")
    return Path(info["Dir"])


def crd_schema(crd: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of one served version of a CRD, with apiVersion, kind and metadata."""
    schema: dict[str, Any] = _close(version["schema"]["openAPIV3Schema"])
    properties = schema.setdefault("properties", {})
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    properties["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
    properties["kind"] = {"type": "string", "enum": [kind]}
    properties["metadata"] = {"type": "object"}
    schema["additionalProperties"] = False
    return schema


def crd_schemas() -> Path:
    """A folder GROUP/KIND_VERSION.json for Istio's and Kyverno's CRDs at the pinned versions."""
    pins = {variable: pin(variable) for variable in CRD_SOURCES}
    target = CACHE / "crds" / "-".join(pins[v] for v in sorted(pins))
    if (target / ".complete").exists():
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for variable, (module, files) in CRD_SOURCES.items():
        root = _module_dir(module, pins[variable])
        for name in files:
            for crd in yaml.safe_load_all((root / name).read_text()):
                if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group = crd["spec"]["group"]
                kind = crd["spec"]["names"]["kind"].lower()
                (staging / group).mkdir(exist_ok=True)
                for version in crd["spec"]["versions"]:
                    path = staging / group / f"{kind}_{version['name']}.json"
                    path.write_text(json.dumps(crd_schema(crd, version)))
    (staging / ".complete").touch()
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def schema_locations() -> list[str]:
    """kubeconform -schema-location values: Kubernetes first, then the CRDs."""
    return [
        f"{kubernetes_schemas()}/{{{{.ResourceKind}}}}{{{{.KindSuffix}}}}.json",
        f"{crd_schemas()}/{{{{.Group}}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json",
    ]
