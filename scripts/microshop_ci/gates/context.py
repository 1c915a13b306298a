"""What every gate gets: the tree to scan, the mode, the policy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from microshop_ci.gates.model import GateRun
from microshop_ci.gates.policy import Policy
from microshop_ci.osv.db import OsvDatabase

Mode = Literal["offline", "online"]


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
