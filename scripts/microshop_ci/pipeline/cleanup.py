"""Leaves the machine as the run found it: no container of the run, no registry it started."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from microshop_ci.core.registry import answers as registry_answers
from microshop_ci.core.tools import ToolError, docker, microshop, module_env, run_tool
from microshop_ci.smoke import compose

RUN_LABEL = "org.microshop.pipeline-run"
__all__ = [
    "RUN_LABEL",
    "registry_answers",
    "remove_run_containers",
    "stop_local_stack",
    "stop_registry",
]


def remove_run_containers(run_id: str) -> list[str]:
    """Force-remove every container labelled with this run's id; return their ids."""
    if shutil.which("docker") is None:
        return []
    with contextlib.suppress(ToolError):
        ids = docker("ps", "-aq", "--filter", f"label={RUN_LABEL}={run_id}", check=False).split()
        if ids:
            docker("rm", "-f", *ids, check=False)
        return ids
    return []


def stop_local_stack(repo: Path) -> None:
    """The smoke stage's containers, FerretDB and network, if any are left (smoke.compose)."""
    with contextlib.suppress(OSError, ToolError):
        compose.down(compose.Paths(repo))


def stop_registry(repo: Path) -> None:
    """Stop the registry the run started: `microshop registry down` in repo."""
    with contextlib.suppress(ToolError):
        run_tool(microshop("registry", "down"), ok_codes=None, cwd=repo,
                 env=module_env(repo, os.environ), timeout=60)  # fmt: skip
