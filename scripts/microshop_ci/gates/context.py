"""What every gate gets: the tree to scan, the mode, the policy, and a way to run tools."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from microshop_ci.gates.model import GateRun
from microshop_ci.gates.policy import Policy
from microshop_ci.osv.db import OsvDatabase

REPO_ROOT = Path(__file__).resolve().parents[3]
TOOL_TIMEOUT = 900
Mode = Literal["offline", "online"]


class ToolError(Exception):
    """A tool could not be found, started, or finished in time."""


@dataclass(frozen=True)
class Context:
    """Inputs shared by all gates for one run."""

    root: Path
    mode: Mode
    policy: Policy
    work_dir: Path
    images: tuple[str, ...] = ()
    osv_url: str | None = None
    osv_db: OsvDatabase | None = None

    def rel(self, path: Path | str) -> str:
        """Path relative to the scanned root, with forward slashes."""
        candidate = Path(path)
        if not candidate.is_absolute():
            candidate = self.root / candidate
        try:
            return candidate.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return Path(path).as_posix()

    def files(self, under: str, suffixes: tuple[str, ...] = ()) -> list[Path]:
        """Files below root/under, in order, minus the policy's excluded paths."""
        base = self.root / under
        if not base.exists():
            return []
        found = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        return [
            p
            for p in found
            if (not suffixes or p.name.endswith(suffixes)) and not self.policy.excluded(self.rel(p))
        ]


class Gate(Protocol):
    """A gate: a name, the tool it runs, and how to run it."""

    name: str
    tool: str

    def run(self, ctx: Context) -> GateRun:
        """Run the tool over ctx.root and normalise its findings."""
        ...


def venv_tool(name: str) -> str:
    """A console script installed beside this interpreter (bandit, pip-audit, zizmor)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise ToolError(f"{name} is not installed in {path.parent} (run scripts/setup)")
    return str(path)


def pinned_tool(name: str) -> str:
    """A pinned Go tool built by scripts/tool (waits for a build in progress)."""
    result = run_tool([str(REPO_ROOT / "scripts" / "tool"), name], ok_codes=(0,))
    return result.stdout.strip()


def uv_binary() -> str:
    """The pinned uv (UV from the environment, else scripts/lib.sh's uv_bin)."""
    if os.environ.get("UV"):
        return os.environ["UV"]
    lib = REPO_ROOT / "scripts" / "lib.sh"
    result = run_tool(["bash", "-c", f'source "{lib}" && uv_bin'], ok_codes=(0,))
    return result.stdout.strip()


def run_tool(
    argv: Sequence[str],
    *,
    ok_codes: tuple[int, ...],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = TOOL_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run a tool without a shell; an exit code outside ok_codes raises ToolError."""
    try:
        result = subprocess.run(  # nosec B603 -- argv list built by the gates, no shell
            list(argv),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as err:
        raise ToolError(f"{argv[0]} not found ({err})") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"{Path(argv[0]).name} did not finish within {timeout:.0f} s") from None
    if result.returncode not in ok_codes:
        tail = (result.stderr or result.stdout).strip()[-1500:]
        raise ToolError(f"{Path(argv[0]).name} exited {result.returncode}: {tail}")
    return result
