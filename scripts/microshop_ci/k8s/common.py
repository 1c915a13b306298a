"""Shared paths, pinned-tool lookup and the error type for a user's mistake."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
K8S_DIR = REPO_ROOT / "k8s"
OVERLAYS_DIR = K8S_DIR / "overlays"
POLICIES_DIR = REPO_ROOT / "policies" / "kyverno"
LOCAL_DIR = REPO_ROOT / ".local"
SECRETS_DIR = LOCAL_DIR / "k8s"


class UsageError(Exception):
    """A mistake in the caller's input: reported as one line, exit code 2, no traceback."""


class ToolFailedError(Exception):
    """A pinned tool could not run at all (not a finding: the check itself broke)."""


@cache
def tool(name: str) -> str:
    """Path of a pinned tool built by scripts/tool (waits for a build in progress)."""
    override = os.environ.get(f"MICROSHOP_TOOL_{name.upper().replace('-', '_')}")
    if override:
        return override
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "tool"), name], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ToolFailedError(f"scripts/tool {name} failed: {result.stderr.strip()[-500:]}")
    return result.stdout.strip()


def run(args: Sequence[str], *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output; the caller decides what an exit code means."""
    return subprocess.run(list(args), capture_output=True, text=True, check=False, cwd=cwd)


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
