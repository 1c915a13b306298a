"""Trivy: `config` (misconfigurations), `secret` (tree and images), and the image vuln scan."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from microshop_ci.core.tools import ToolError, pinned_tool, run_tool
from microshop_ci.gates.context import Context
from microshop_ci.gates.model import Finding, GateRun, RunStatus, Severity

VULN_DB_MISSING = (
    "Trivy's vulnerability scan did not run: its database (trivy.db) is not on this machine "
    "and cannot be downloaded here, so image packages were not checked for known CVEs."
)
VULN_DB_UNREACHABLE = (
    "Trivy's vulnerability database could not be downloaded (--online), so the images were not "
    "checked for known CVEs: the gate fails rather than let them through unscanned."
)


def trivy_cache_dir() -> Path:
    """Where Trivy keeps its databases: TRIVY_CACHE_DIR, else its default."""
    configured = os.environ.get("TRIVY_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "trivy"


def vuln_db_present() -> bool:
    """Whether Trivy's vulnerability database has been downloaded before."""
    return (trivy_cache_dir() / "db" / "trivy.db").is_file()


def _version(trivy: str) -> str:
    lines = run_tool([trivy, "--version"], ok_codes=(0,)).stdout.splitlines()
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Version")), "")


def _common(ctx: Context, trivy: str) -> list[str]:
    argv = [trivy, "--quiet", "--format", "json", "--cache-dir", str(ctx.work_dir / "trivy-cache")]
    if ctx.mode == "offline":
        argv.append("--offline-scan")
    return argv


def _skips(ctx: Context) -> list[str]:
    skips: list[str] = []
    for pattern in ctx.policy.exclude:
        skips += ["--skip-dirs", pattern.rstrip("/*") or pattern]
    return skips


def _results(stdout: str) -> Iterator[Mapping[str, Any]]:
    yield from json.loads(stdout).get("Results") or []


def _image_source(ref: str) -> list[str]:
    """`image` plus where to read REF from: a `docker save`/OCI tarball, else daemon or registry."""
    if ref.endswith(".tar") and Path(ref).is_file():
        return ["image", "--input"]
    return ["image", "--image-src", "docker,remote"]


def _has_config_inputs(ctx: Context) -> bool:
    return any(ctx.root.glob("**/Dockerfile*")) or (ctx.root / "k8s").is_dir()


def render_overlays(ctx: Context) -> dict[str, str]:
    """`kustomize build` of each k8s/overlays/<env> into the work dir: {file name: overlay path}.

    Kustomize bases and components are partial (patches); what is deployed is the rendered
    overlay, so that is what trivy checks.
    """
    overlays = sorted(p.parent for p in ctx.root.glob("k8s/overlays/*/kustomization.yaml"))
    if not overlays:
        return {}
    kustomize = pinned_tool("kustomize")
    rendered = ctx.work_dir / "rendered-overlays"
    rendered.mkdir(exist_ok=True)
    names: dict[str, str] = {}
    for overlay in overlays:
        manifest = run_tool([kustomize, "build", str(overlay)], ok_codes=(0,)).stdout
        (rendered / f"{overlay.name}.yaml").write_text(manifest)
        names[f"{overlay.name}.yaml"] = ctx.rel(overlay / "kustomization.yaml")
    return names


class TrivyConfigGate:
    """Misconfigurations in Dockerfiles and Kubernetes manifests (embedded checks, no update)."""

    name = "trivy-config"
    tool = "trivy"

    def run(self, ctx: Context) -> GateRun:
        """`trivy config` over the root, minus excluded paths."""
        if not _has_config_inputs(ctx):
            return GateRun(RunStatus.SKIPPED, self.tool, "skipped: no Dockerfile and no k8s/")
        out = GateRun(RunStatus.RAN, self.tool)
        try:
            trivy = pinned_tool("trivy")
            out.tool_version = _version(trivy)
            argv = [trivy, "config", "--quiet", "--format", "json", "--skip-check-update"]
            argv += ["--cache-dir", str(ctx.work_dir / "trivy-cache"), *_skips(ctx)]
            overlays = render_overlays(ctx)
            skip_k8s = ["--skip-dirs", "k8s"] if overlays else []
            scans: list[tuple[list[str], dict[str, str]]] = [
                ([*argv, *skip_k8s, str(ctx.root)], {})
            ]
            if overlays:
                scans.append(([*argv, str(ctx.work_dir / "rendered-overlays")], overlays))
            for scan, renamed in scans:
                self._scan(out, scan, renamed)
        except (ToolError, json.JSONDecodeError, KeyError) as err:
            return GateRun(RunStatus.ERROR, self.tool, str(err))
        return out

    def _scan(self, out: GateRun, argv: list[str], renamed: dict[str, str]) -> None:
        """One trivy config run; rendered overlays are reported at their kustomization.yaml."""
        for result in _results(run_tool(argv, ok_codes=(0,)).stdout):
            for item in result.get("Misconfigurations") or []:
                if item.get("Status", "FAIL") != "FAIL":
                    continue
                path = renamed.get(result["Target"], result["Target"])
                cause = item.get("CauseMetadata") or {}
                line = None if path in renamed.values() else cause.get("StartLine") or None
                out.add(
                    Finding(
                        gate=self.name,
                        rule_id=item.get("ID") or item.get("AVDID", "unknown"),
                        severity=Severity.parse(item.get("Severity")),
                        target=path,
                        message=f"{item.get('Title', '')}: {item.get('Message', '')}".strip(),
                        path=path,
                        line=line,
                        aliases=tuple(a for a in [item.get("AVDID")] if a),
                        help_uri=item.get("PrimaryURL"),
                    ),
                    description=item.get("Title"),
                )


class TrivySecretGate:
    """Secrets in the tree and in every image given with --image: any finding fails."""

    name = "trivy-secret"
    tool = "trivy"

    def run(self, ctx: Context) -> GateRun:
        """`trivy fs --scanners secret` over the root, then `trivy image` per image."""
        out = GateRun(RunStatus.RAN, self.tool)
        try:
            trivy = pinned_tool("trivy")
            out.tool_version = _version(trivy)
            targets = [(["fs", *_skips(ctx)], str(ctx.root), "")]
            targets += [(_image_source(ref), ref, ref) for ref in ctx.images]
            for command, target, image in targets:
                argv = [trivy, command[0], *_common(ctx, trivy)[1:], "--scanners", "secret"]
                stdout = run_tool([*argv, *command[1:], target], ok_codes=(0,)).stdout
                for result in _results(stdout):
                    for item in result.get("Secrets") or []:
                        self._add(out, result["Target"], image, item)
        except (ToolError, json.JSONDecodeError, KeyError) as err:
            return GateRun(RunStatus.ERROR, self.tool, str(err))
        return out

    def _add(self, out: GateRun, target: str, image: str, item: Mapping[str, Any]) -> None:
        path = f"{image}:{target}" if image else target
        out.add(
            Finding(
                gate=self.name,
                rule_id=item.get("RuleID", "unknown"),
                severity=Severity.parse(item.get("Severity")),
                target=path,
                message=f"{item.get('Title', 'secret')} ({item.get('Category', '')}); "
                "the matched text is not repeated here",
                path=target if not image else path,
                line=item.get("StartLine") or None,
            ),
            description=item.get("Title"),
        )


class TrivyVulnGate:
    """Known vulnerabilities in image packages, only where Trivy's database can be had."""

    name = "trivy-vuln"
    tool = "trivy"

    def run(self, ctx: Context) -> GateRun:
        """Not run offline without the DB, skipped without images, an error online when the DB
        cannot be downloaded (a release must not pass its gate unscanned), else `trivy image`."""
        if ctx.mode == "offline" and not vuln_db_present():
            return GateRun(RunStatus.NOT_RUN, self.tool, VULN_DB_MISSING)
        if not ctx.images:
            return GateRun(RunStatus.SKIPPED, self.tool, "skipped: no --image given")
        out = GateRun(RunStatus.RAN, self.tool)
        try:
            trivy = pinned_tool("trivy")
            out.tool_version = _version(trivy)
        except ToolError as err:
            return GateRun(RunStatus.ERROR, self.tool, str(err))
        if ctx.mode == "online":
            try:
                run_tool([trivy, "image", "--quiet", "--download-db-only"], ok_codes=(0,))
            except ToolError as err:  # online, the scan is owed: fail closed, never "not run"
                return GateRun(RunStatus.ERROR, self.tool, f"{VULN_DB_UNREACHABLE} ({err})")
        try:
            for ref in ctx.images:
                argv = [trivy, "image", "--quiet", "--format", "json", "--scanners", "vuln"]
                argv += ["--skip-db-update", "--skip-java-db-update"]
                stdout = run_tool([*argv, *_image_source(ref)[1:], ref], ok_codes=(0,)).stdout
                for result in _results(stdout):
                    for item in result.get("Vulnerabilities") or []:
                        package = item.get("PkgName", "unknown")
                        out.add(
                            Finding(
                                gate=self.name,
                                rule_id=item.get("VulnerabilityID", "unknown"),
                                severity=Severity.parse(item.get("Severity")),
                                target=package,
                                message=f"{package} {item.get('InstalledVersion', '')} in {ref}: "
                                f"{item.get('Title', '')}",
                                path=f"{ref}:{result.get('Target', '')}",
                                fixed_version=item.get("FixedVersion") or None,
                                help_uri=item.get("PrimaryURL"),
                            )
                        )
        except (ToolError, json.JSONDecodeError, KeyError) as err:
            return GateRun(RunStatus.ERROR, self.tool, str(err))
        return out
