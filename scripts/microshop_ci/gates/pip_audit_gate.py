"""pip-audit over each service's locked, hashed requirements, with advisory severities from OSV."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from cvss import CVSS3, CVSS4  # type: ignore[import-untyped]
from cvss.exceptions import CVSSError  # type: ignore[import-untyped]

from microshop_ci.core.tools import ToolError, run_tool, uv_binary, venv_tool
from microshop_ci.gates.context import Context
from microshop_ci.gates.model import Finding, GateRun, RunStatus, Severity

ONLINE_OSV = "https://api.osv.dev"


def advisory_severity(advisory: Mapping[str, Any] | None) -> Severity:
    """The advisory's own rating, else the worst of its CVSS vectors, else UNKNOWN."""
    if not advisory:
        return Severity.UNKNOWN
    rated = (advisory.get("database_specific") or {}).get("severity")
    if isinstance(rated, str) and Severity.parse(rated) != Severity.UNKNOWN:
        return Severity.parse(rated)
    worst = Severity.UNKNOWN
    for entry in advisory.get("severity") or ():
        vector = str(entry.get("score", ""))
        try:
            word = (
                CVSS4(vector).severity
                if vector.startswith("CVSS:4")
                else CVSS3(vector).severities()[0]
            )
        except (CVSSError, ValueError, KeyError):
            continue
        worst = max(worst, Severity.parse(word))
    return worst


def _lookup(ctx: Context, vuln_id: str) -> Mapping[str, Any] | None:
    """The full advisory: from the local database offline, else from the OSV service pip-audit
    asked (OSV's API unless another was given); None if unreachable."""
    if ctx.osv_db is not None:
        return ctx.osv_db.get(vuln_id)
    try:
        response = httpx.get(f"{ctx.osv_url or ONLINE_OSV}/v1/vulns/{vuln_id}", timeout=15)
        response.raise_for_status()
        data: Mapping[str, Any] = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    return data


def _lock_line(lock: Path, package: str) -> int | None:
    """Line of a package's entry in uv.lock or a requirements file, for the SARIF location."""
    pattern = re.compile(rf'^(name = "{re.escape(package)}"|{re.escape(package)}==)', re.IGNORECASE)
    for number, line in enumerate(lock.read_text(encoding="utf-8").splitlines(), start=1):
        if pattern.match(line):
            return number
    return None


def requirement_sets(ctx: Context) -> list[tuple[str, Path, Path]]:
    """(service, requirements file to audit, file to point findings at) for each service.

    With a root uv.lock, each service's requirements are exported from it (hashes included);
    a service without a pyproject.toml is audited from its committed requirements.txt.
    """
    sets: list[tuple[str, Path, Path]] = []
    lock = ctx.root / "uv.lock"
    services = ctx.root / "services"
    for service in sorted(p for p in services.iterdir() if p.is_dir()) if services.is_dir() else []:
        pyproject = service / "pyproject.toml"
        if lock.exists() and pyproject.exists():
            package = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]
            exported = ctx.work_dir / f"{service.name}.requirements.txt"
            result = run_tool(
                [uv_binary(), "export", "--frozen", "--package", package, "--no-dev",
                 "--no-emit-workspace", "--no-header", "--format", "requirements-txt",
                 "-o", str(exported)],
                ok_codes=(0,),
                cwd=ctx.root,
            )  # fmt: skip
            del result
            sets.append((service.name, exported, lock))
        elif (service / "requirements.txt").exists():
            sets.append((service.name, service / "requirements.txt", service / "requirements.txt"))
    return sets


class PipAuditGate:
    """Audits each set with --require-hashes --disable-pip --no-deps against OSV."""

    name = "pip-audit"
    tool = "pip-audit"

    def run(self, ctx: Context) -> GateRun:
        """One pip-audit per service; findings name the package, advisory and fix versions."""
        out = GateRun(RunStatus.RAN, self.tool)
        try:
            sets = requirement_sets(ctx)
            if not sets:
                return GateRun(
                    RunStatus.SKIPPED, self.tool, "skipped: no locked service requirements"
                )
            pip_audit = venv_tool("pip-audit")
            out.tool_version = run_tool([pip_audit, "--version"], ok_codes=(0,)).stdout.split()[1]
            for service, requirements, anchor in sets:
                audit(ctx, out, pip_audit, service, requirements, anchor, hashed=True)
        except (ToolError, json.JSONDecodeError, KeyError, IndexError) as err:
            return GateRun(RunStatus.ERROR, self.tool, str(err))
        return out


def audit(
    ctx: Context, out: GateRun, pip_audit: str, label: str, requirements: Path, anchor: Path, *,
    hashed: bool,
) -> None:  # fmt: skip
    """pip-audit over one pinned requirements file into out: `--require-hashes` for a locked
    export, `--no-deps` for pins without hashes (an image's SBOM); label names the set."""
    argv = [pip_audit, "-r", str(requirements), "--require-hashes" if hashed else "--no-deps",
            "--disable-pip", "-f", "json", "--progress-spinner", "off", "-s", "osv",
            "--cache-dir", str(ctx.work_dir / "pip-audit-cache")]  # fmt: skip
    if ctx.osv_url:
        argv += ["--osv-url", f"{ctx.osv_url}/v1/query"]
    report = json.loads(run_tool(argv, ok_codes=(0, 1)).stdout)
    for dependency in report["dependencies"]:
        for vuln in dependency.get("vulns", []):
            advisory = _lookup(ctx, vuln["id"])
            fixes = vuln.get("fix_versions") or []
            fix_text = f"fixed in {', '.join(fixes)}" if fixes else "no fixed release"
            out.add(
                Finding(
                    gate=PipAuditGate.name,
                    rule_id=vuln["id"],
                    severity=advisory_severity(advisory),
                    target=dependency["name"],
                    message=f"{dependency['name']}=={dependency['version']} ({label}): "
                    f"{vuln['description'][:240]} [{fix_text}]",
                    path=ctx.rel(anchor),
                    line=_lock_line(anchor, dependency["name"]),
                    aliases=tuple(sorted(vuln.get("aliases") or [])),
                    fixed_version=fixes[0] if fixes else None,
                    help_uri=f"https://osv.dev/vulnerability/{vuln['id']}",
                ),
                description=vuln["description"][:240],
            )
