"""Leaves the machine as the run found it: no container of the run, no registry it started."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import httpx

from microshop_ci.core.tools import ToolError, module_env, python_module, run_tool
from microshop_ci.smoke import compose

RUN_LABEL = "org.microshop.pipeline-run"


def registry_answers(address: str) -> bool:
    """True when an OCI registry answers GET /v2/ at address (host:port)."""
    try:
        httpx.get(f"http://{address}/v2/", timeout=2)
    except httpx.HTTPError:
        return False
    return True  # any HTTP answer, 401 included: something speaks the registry API there


def remove_run_containers(run_id: str) -> list[str]:
    """Force-remove every container labelled with this run's id; return their ids."""
    if shutil.which("docker") is None:
        return []
    found = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={RUN_LABEL}={run_id}"],
        capture_output=True,
        text=True,
        check=False,
    )
    ids = found.stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)
    return ids


def stop_local_stack(repo: Path) -> None:
    """The smoke stage's containers, FerretDB and network, if any are left (smoke.compose)."""
    with contextlib.suppress(OSError, ToolError):
        compose.down(compose.Paths(repo))


def stop_registry(repo: Path) -> None:
    """Stop the registry the run started: `python -m microshop_ci.core.registry down` in repo."""
    with contextlib.suppress(ToolError):
        run_tool(python_module("microshop_ci.core.registry", "down"), ok_codes=None, cwd=repo,
                 env=module_env(repo, os.environ), timeout=60)  # fmt: skip
