"""scripts/validate-manifests: every overlay, built, against schemas, kube-linter and istioctl.

Each overlay is rendered with `kustomize build`, then checked by kubeconform (strict, local
schemas: Kubernetes from kubernetes-validate, Istio and Kyverno CRDs from their pinned modules),
kube-linter (k8s/kube-linter.yaml) and `istioctl analyze --use-kube=false`. The rendered policies
are schema-checked too. Every finding names the overlay, the resource and the check.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from microshop_ci.core.errors import UsageError
from microshop_ci.core.findings import Finding, Severity
from microshop_ci.core.tools import ToolError, pinned_tool, run
from microshop_ci.k8s import overlay, policies, schemas
from microshop_ci.k8s.common import K8S_DIR, overlays

KUBE_LINTER_CONFIG = K8S_DIR / "kube-linter.yaml"
GATE = "manifests"  # the security gate these findings belong to (gates.manifests_gate)
# istioctl levels that fail the check; Info messages are printed, not counted.
ISTIO_FAILING = {"Error": Severity.HIGH, "Warning": Severity.MEDIUM}


def finding(
    check: str, resource: str, file: str, message: str, severity: Severity = Severity.HIGH
) -> Finding:
    """One problem: which check, on which resource, rendered from which file or overlay."""
    return Finding(GATE, check, severity, target=resource, message=message, path=file)


def _resource(kind: str, namespace: str | None, name: str) -> str:
    return "/".join(part for part in (kind, namespace, name) if part)


def kubeconform(path: Path, origin: str) -> list[Finding]:
    """Strict schema validation; unknown kinds are errors, not skips."""
    args = [pinned_tool("kubeconform"), "-strict", "-output", "json", "-kubernetes-version"]
    args.append(schemas.KUBERNETES_VERSION)
    for location in schemas.schema_locations():
        args += ["-schema-location", location]
    result = run([*args, str(path)])
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise ToolError(f"kubeconform: {result.stderr.strip() or result.stdout}") from exc
    findings = []
    for item in report.get("resources") or []:
        if item.get("status") in ("statusValid", "statusSkipped"):
            continue
        # The detail ("at '/spec': additional properties 'replica' not allowed") is in msg.
        message = str(item.get("msg", "")).split(" - ", 1)[-1]
        findings.append(
            finding(
                "kubeconform",
                _resource(item.get("kind", "?"), None, item.get("name", "?")),
                origin,
                message,
            )
        )
    if result.returncode != 0 and not findings:
        raise ToolError(f"kubeconform exited {result.returncode}: {result.stderr.strip()}")
    return findings


def kube_linter(path: Path, origin: str) -> list[Finding]:
    """Every built-in kube-linter check but the justified exclusions in k8s/kube-linter.yaml."""
    config = str(KUBE_LINTER_CONFIG)
    result = run(
        [pinned_tool("kube-linter"), "lint", "--config", config, "--format", "json", str(path)]
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise ToolError(f"kube-linter: {result.stderr.strip() or result.stdout}") from exc
    findings = []
    for item in report.get("Reports") or []:
        obj = item.get("Object", {}).get("K8sObject", {})
        findings.append(
            finding(
                f"kube-linter:{item.get('Check')}",
                _resource(
                    obj.get("GroupVersionKind", {}).get("Kind", "?"),
                    obj.get("Namespace"),
                    obj.get("Name", "?"),
                ),
                origin,
                f"{item.get('Diagnostic', {}).get('Message', '')} "
                f"(remediation: {item.get('Remediation', '')})",
            )
        )
    if result.returncode != 0 and not findings:
        raise ToolError(f"kube-linter exited {result.returncode}: {result.stderr.strip()}")
    return findings


def istioctl_analyze(path: Path, origin: str) -> list[Finding]:
    """`istioctl analyze --use-kube=false`: Istio's own offline analysers, errors and warnings."""
    # Without --all-namespaces istioctl analyzes the "default" namespace only.
    args = ["analyze", "--use-kube=false", "--all-namespaces", "-o", "json", str(path)]
    result = run([pinned_tool("istioctl"), *args])
    text = result.stdout.strip()
    start = text.find("[")
    try:
        messages: list[dict[str, Any]] = json.loads(text[start:]) if start >= 0 else []
    except json.JSONDecodeError as exc:
        raise ToolError(f"istioctl analyze: {result.stderr.strip() or text}") from exc
    if start < 0 and result.returncode not in (0, 79):
        raise ToolError(f"istioctl analyze exited {result.returncode}: {result.stderr}")
    findings = []
    for message in messages:
        level = str(message.get("level", ""))
        if level not in ISTIO_FAILING:
            continue
        findings.append(
            finding(
                f"istioctl:{message.get('code', '?')}",
                str(message.get("origin", "?")).replace(" ", "/", 1),
                origin,
                f"{message.get('message', '')} ({message.get('reference', '')})",
                ISTIO_FAILING[level],
            )
        )
    return findings


CHECKS = (kubeconform, kube_linter, istioctl_analyze)


def validate_file(path: Path, origin: str) -> list[Finding]:
    """Run every check on one rendered manifest file.

    A check whose tool fails on the file (it cannot parse it, say) is a finding about that file,
    and the other checks still run, so each reports what it sees.
    """
    findings: list[Finding] = []
    for check in CHECKS:
        try:
            findings += check(path, origin)
        except ToolError as exc:
            findings.append(finding(check.__name__.replace("_", "-"), "-", origin, str(exc)))
    return findings


def validate_overlay(name: str, work: Path) -> list[Finding]:
    """Build one overlay and run every check on the result."""
    origin = f"k8s/overlays/{name}"
    try:
        rendered = overlay.build(name)
    except ToolError as exc:
        return [finding("kustomize", "-", origin, str(exc))]
    path = work / f"{name}.yaml"
    path.write_text(rendered)
    return validate_file(path, origin)


def validate_policies(work: Path) -> list[Finding]:
    """Schema-check the release rendering of the Kyverno policies against Kyverno's CRD."""
    path = work / "policies.yaml"
    path.write_text(policies.dump(policies.render("release") + policies.support_documents()))
    return kubeconform(path, "policies/kyverno")


def validate(names: Sequence[str] | None = None, files: Sequence[Path] = ()) -> list[Finding]:
    """Every finding in the named overlays (None: all, or none when files are given), the
    rendered policies (when no files are given) and the files; UsageError, ToolError."""
    if names is None:
        names = [] if files else overlays()
    findings: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="microshop-validate-") as tmp:
        for name in names:
            findings += validate_overlay(name, Path(tmp))
        if not files:
            findings += validate_policies(Path(tmp))
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    for path in files:
        findings += validate_file(path, str(path))
    return findings


def as_json(f: Finding) -> dict[str, str]:
    """A finding as --json writes it."""
    return {
        "check": f.rule_id,
        "resource": f.target,
        "file": f.path,
        "message": f.message,
        "severity": f.severity.label,
    }


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop validate-manifests [--overlay NAME]... [--file RENDERED.yaml]... [--json OUT]`."""
    parser.add_argument("--overlay", action="append", help="only this overlay (repeatable)")
    parser.add_argument("--file", type=Path, action="append", default=[],
                        help="also check a rendered manifest file (e.g. a fixture)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="write the findings here as a JSON list")


def run_command(args: argparse.Namespace) -> int:
    """Validate; print one line per finding; exit 1 on any finding."""
    names = args.overlay if args.overlay is not None else ([] if args.file else overlays())
    try:
        findings = validate(names, args.file)
    except ToolError as exc:
        raise ToolError(f"a check could not run: {exc}") from exc
    for f in findings:
        print(f"FAIL {f.path} {f.target} [{f.rule_id}] {f.message}")
    checked = ", ".join(names + [str(p) for p in args.file])
    print(f"validate-manifests: {len(findings)} finding(s) in {checked}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([as_json(f) for f in findings], indent=2) + "\n")
    return 1 if findings else 0
