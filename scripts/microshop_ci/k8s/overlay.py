"""Build an overlay with kustomize, setting the pushed images' digests and the inline JWKS.

No second copy of a manifest: a throw-away kustomization wraps the overlay and adds an `images:`
entry per service and, when given, a patch of the RequestAuthentication's JWKS.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from microshop_ci.core.tools import ToolError, pinned_tool, run
from microshop_ci.k8s.common import component_dir, overlay_dir
from microshop_ci.k8s.images import OPTIONAL, ImageRef

REQUEST_AUTHENTICATION = "api-service-jwt"


def _kustomize_build(path: Path) -> str:
    result = run([pinned_tool("kustomize"), "build", str(path)])
    if result.returncode != 0:
        raise ToolError(f"kustomize build {path} failed: {result.stderr.strip()}")
    return result.stdout


# Apply order: what admission checks look up (NetworkPolicies, the mesh's authentication and
# AuthorizationPolicies) exists before the workloads it covers.
APPLY_ORDER = (
    "Namespace", "ServiceAccount", "Role", "RoleBinding", "NetworkPolicy", "PeerAuthentication",
    "RequestAuthentication", "AuthorizationPolicy", "Service", "PodDisruptionBudget",
    "HorizontalPodAutoscaler", "Gateway", "VirtualService", "Ingress",
)  # fmt: skip
WORKLOADS = ("StatefulSet", "Deployment", "DaemonSet", "Job")


def _apply_rank(doc: dict[str, Any]) -> int:
    kind = str(doc.get("kind"))
    if kind in APPLY_ORDER:
        return APPLY_ORDER.index(kind)
    if kind in WORKLOADS:
        return len(APPLY_ORDER) + 1 + WORKLOADS.index(kind)
    return len(APPLY_ORDER)


def in_apply_order(text: str) -> str:
    """The documents re-ordered so that policies and mesh rules come before the workloads."""
    ordered = sorted(documents(text), key=_apply_rank)  # sorted() is stable
    return yaml.safe_dump_all(ordered, sort_keys=False)


def documents(text: str) -> list[dict[str, Any]]:
    """The non-empty documents of a multi-document YAML stream."""
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]


def _containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = doc.get("spec") or {}
    pod = (spec.get("template") or {}).get("spec") or (spec if doc.get("kind") == "Pod" else {})
    for key in ("initContainers", "containers"):
        yield from pod.get(key) or []


def image_names(docs: list[dict[str, Any]]) -> set[str]:
    """Every image name (without tag or digest) used by a pod template in the documents."""
    names = set()
    for doc in docs:
        for container in _containers(doc):
            names.add(str(container.get("image", "")).split("@", 1)[0])
    return names


def _service_of(image_name: str) -> str:
    return image_name.rsplit("/", 1)[-1].split(":", 1)[0]


def build(
    overlay: str,
    images: dict[str, ImageRef] | None = None,
    jwks: str | None = None,
    components: tuple[str, ...] = (),
) -> str:
    """`kustomize build` of an overlay, with our images, the JWKS and extra components if given.

    A component (k8s/components/NAME) adds to the overlay without a copy of it, e.g. `ferretdb`
    for the build machines' local cluster.
    """
    source = overlay_dir(overlay)
    plain = _kustomize_build(source)
    if not images and jwks is None and not components:
        return in_apply_order(plain)
    docs = documents(plain)
    wrapper: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
    }
    entries = []
    names = image_names(docs)
    if components:  # a component may bring an image of its own (ferretdb)
        names |= {name for name in OPTIONAL if name in (images or {})}
    for name in sorted(names):
        ref = (images or {}).get(_service_of(name))
        if ref is not None:
            entries.append({"name": name, "newName": ref.name, "digest": ref.digest})
    if entries:
        wrapper["images"] = entries
    has_jwt_rule = any(
        d.get("kind") == "RequestAuthentication"
        and d.get("metadata", {}).get("name") == REQUEST_AUTHENTICATION
        for d in docs
    )
    if jwks is not None and has_jwt_rule:
        wrapper["patches"] = [
            {
                "target": {"kind": "RequestAuthentication", "name": REQUEST_AUTHENTICATION},
                "patch": yaml.safe_dump(
                    [{"op": "replace", "path": "/spec/jwtRules/0/jwks", "value": jwks}]
                ),
            }
        ]
    with tempfile.TemporaryDirectory(prefix="microshop-render-") as tmp:
        wrapper["resources"] = [os.path.relpath(source, tmp)]
        if components:
            wrapper["components"] = [
                os.path.relpath(component_dir(name), tmp) for name in components
            ]
        (Path(tmp) / "kustomization.yaml").write_text(yaml.safe_dump(wrapper, sort_keys=False))
        return in_apply_order(_kustomize_build(Path(tmp)))
