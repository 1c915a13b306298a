"""Shared paths of the manifests and policies, and the overlays and components under them."""

from __future__ import annotations

from pathlib import Path

from microshop_ci.core.errors import UsageError
from microshop_ci.core.paths import LOCAL_DIR, REPO_ROOT

K8S_DIR = REPO_ROOT / "k8s"
OVERLAYS_DIR = K8S_DIR / "overlays"
POLICIES_DIR = REPO_ROOT / "policies" / "kyverno"
SECRETS_DIR = LOCAL_DIR / "k8s"


def overlays() -> list[str]:
    """Names of the overlays under k8s/overlays, sorted."""
    return sorted(p.name for p in OVERLAYS_DIR.iterdir() if (p / "kustomization.yaml").is_file())


def overlay_dir(name: str) -> Path:
    """The folder of an overlay, or a UsageError naming the known ones."""
    path = OVERLAYS_DIR / name
    if not (path / "kustomization.yaml").is_file():
        raise UsageError(f"unknown overlay {name!r} (known: {', '.join(overlays())})")
    return path


def component_dir(name: str) -> Path:
    """The folder of a Kustomize component, or a UsageError naming the known ones."""
    path = K8S_DIR / "components" / name
    if not (path / "kustomization.yaml").is_file():
        known = sorted(p.name for p in (K8S_DIR / "components").iterdir() if p.is_dir())
        raise UsageError(f"unknown component {name!r} (known: {', '.join(known)})")
    return path
