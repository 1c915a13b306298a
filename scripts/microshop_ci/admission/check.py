"""scripts/admission-check: the shop obeys its own rules, and the rules refuse an unsigned image.

Every overlay is rendered with the real digests of reports/images.json and run through every
policy (local profile: the cosign public key that signed the local images) with `kyverno apply`,
against the real registry. Every result must pass, each of our images must have a passing
signature verification, and an unsigned control image in the same registry must be refused.
"""

from __future__ import annotations

import argparse
import json
import secrets
import tarfile
import tempfile
from dataclasses import asdict, dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import yaml

from microshop_ci.core.errors import UsageError
from microshop_ci.core.paths import LOCAL_DIR
from microshop_ci.core.result import AdmissionResult, write_result
from microshop_ci.core.tools import ToolError, pinned_tool, run
from microshop_ci.k8s import overlay, policies
from microshop_ci.k8s.common import overlays
from microshop_ci.k8s.images import ImageRef, load_images, parse_ref

SIGNATURE_POLICY = "verify-image-signatures"
SIGNATURE_RULE = "verify-microshop-image-signatures"
COVERAGE_POLICY = "require-authorizationpolicy-coverage"
MESH_LABEL = "istio-injection"


@dataclass
class Outcome:
    """What kyverno apply said about one set of resources."""

    target: str
    results: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def namespace_values(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """A kyverno Values document giving each rendered Namespace's labels to namespaceSelectors."""
    selectors = [
        {"name": d["metadata"]["name"], "labels": d["metadata"].get("labels") or {}}
        for d in docs
        if d.get("kind") == "Namespace"
    ]
    return {
        "apiVersion": "cli.kyverno.io/v1alpha1",
        "kind": "Values",
        "namespaceSelector": selectors,
    }


def uncovered_mesh_namespaces(docs: list[dict[str, Any]]) -> list[str]:
    """Mesh namespaces with workloads but no AuthorizationPolicy at all.

    The Kyverno CLI cannot answer the coverage lookup when no AuthorizationPolicy exists in its
    input (its fake client panics), so that case, a certain failure, is reported here.
    """
    mesh = {
        d["metadata"]["name"]
        for d in docs
        if d.get("kind") == "Namespace"
        and (d["metadata"].get("labels") or {}).get(MESH_LABEL) == "enabled"
    }
    with_policies = {
        d["metadata"].get("namespace") for d in docs if d.get("kind") == "AuthorizationPolicy"
    }
    with_workloads = {
        d["metadata"].get("namespace")
        for d in docs
        if d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet")
    }
    return sorted((mesh & with_workloads) - with_policies)


def kyverno_apply(policy_file: Path, docs: list[dict[str, Any]], work: Path, name: str) -> Outcome:
    """`kyverno apply` of the policies to the documents; results from its JSON policy report."""
    outcome = Outcome(name)
    for namespace in uncovered_mesh_namespaces(docs):
        outcome.problems.append(
            f"{COVERAGE_POLICY}: mesh namespace {namespace} has workloads, no AuthorizationPolicy"
        )
    resources = work / f"{name}.resources.yaml"
    resources.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    values = work / f"{name}.values.yaml"
    values.write_text(yaml.safe_dump(namespace_values(docs), sort_keys=False))
    result = run(
        [
            *(pinned_tool("kyverno"), "apply", str(policy_file), "--resource", str(resources)),
            *("--values-file", str(values), "--policy-report", "--output-format", "json"),
            "--remove-color",
        ]
    )
    start = result.stdout.find("{")
    try:
        report = json.loads(result.stdout[start:]) if start >= 0 else None
    except json.JSONDecodeError:
        report = None
    if not isinstance(report, dict):
        tail = (result.stderr or result.stdout).strip()[-800:]
        raise ToolError(
            f"kyverno apply on {name} gave no report (exit {result.returncode}): {tail}"
        )
    outcome.results = report.get("results") or []
    for item in outcome.results:
        if item.get("result") != "pass" and item.get("result") != "skip":
            target = ", ".join(_resource(r) for r in item.get("resources") or [])
            outcome.problems.append(
                f"{item.get('policy')}/{item.get('rule')} {item.get('result')} on {target}: "
                f"{str(item.get('message', '')).strip()}"
            )
    return outcome


def _resource(ref: dict[str, Any]) -> str:
    return "/".join(str(ref.get(k)) for k in ("kind", "namespace", "name") if ref.get(k))


def signature_passes(outcome: Outcome) -> set[str]:
    """Names of the resources whose images passed signature verification."""
    return {
        r.get("name", "")
        for item in outcome.results
        if item.get("policy") == SIGNATURE_POLICY
        and str(item.get("rule", "")).endswith(SIGNATURE_RULE)
        and item.get("result") == "pass"
        for r in item.get("resources") or []
    }


def push_unsigned_control(registry: str) -> ImageRef:
    """Push a tiny random image (never signed) to the registry with crane; return it by digest."""
    layer = BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        data = secrets.token_hex(16).encode()
        info = tarfile.TarInfo("control.txt")
        info.size = len(data)
        tar.addfile(info, BytesIO(data))
    with tempfile.NamedTemporaryFile(suffix=".tar") as tmp:
        tmp.write(layer.getvalue())
        tmp.flush()
        tag = f"{registry}/admission-control:unsigned"
        pushed = run([pinned_tool("crane"), "append", "--insecure", "-f", tmp.name, "-t", tag])
    if pushed.returncode != 0:
        raise ToolError(f"crane could not push the control image: {pushed.stderr.strip()}")
    return parse_ref(pushed.stdout.strip())


def control_pod(image: ImageRef, template: dict[str, Any]) -> dict[str, Any]:
    """A pod identical in every way to a compliant one, except for its unsigned image."""
    spec = json.loads(json.dumps(template["spec"]["template"]["spec"]))
    for container in spec.get("containers", []):
        container["image"] = image.ref
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "unsigned-control",
            "namespace": template["metadata"].get("namespace", "microshop"),
            "labels": dict(template["spec"]["template"]["metadata"].get("labels") or {}),
        },
        "spec": spec,
    }


@dataclass
class Report:
    """The whole check: per overlay, and the control."""

    overlays: list[Outcome] = field(default_factory=list)
    control: Outcome | None = None
    problems: list[str] = field(default_factory=list)


def check(images: dict[str, ImageRef], public_key: str, control: ImageRef | None) -> Report:
    """Render, apply, and judge; see the module docstring."""
    registries = tuple(sorted({ref.registry for ref in images.values()}))
    rendered = policies.render("local", public_key=public_key, registries=registries)
    report = Report()
    with tempfile.TemporaryDirectory(prefix="microshop-admission-") as tmp:
        work = Path(tmp)
        policy_file = work / "policies.yaml"
        policy_file.write_text(policies.dump(rendered))
        template = None
        for name in overlays():
            docs = overlay.documents(overlay.build(name, images))
            outcome = kyverno_apply(policy_file, docs, work, name)
            verified = signature_passes(outcome)
            for doc in docs:
                if doc.get("kind") in ("Deployment",) and doc["metadata"]["name"] in images:
                    template = template or doc
                    if doc["metadata"]["name"] not in verified:
                        outcome.problems.append(
                            f"{SIGNATURE_POLICY}: no passing signature check for "
                            f"{doc['kind']}/{doc['metadata']['name']}"
                        )
            report.overlays.append(outcome)
        if template is None:
            report.problems.append("no overlay renders a Deployment of our services")
            return report
        image = control or push_unsigned_control(registries[0])
        report.control = kyverno_apply(policy_file, [control_pod(image, template)], work, "control")
        refused = [
            item
            for item in report.control.results
            if item.get("policy") == SIGNATURE_POLICY and item.get("result") == "fail"
        ]
        if not refused:
            report.problems.append(f"the unsigned control image {image.ref} was NOT refused")
    return report


def _counts(outcome: Outcome) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in outcome.results:
        name = str(result.get("result", "?"))
        counts[name] = counts.get(name, 0) + 1
    return counts


def outcome_of(report: Report) -> AdmissionResult:
    """The stage's typed result: Kyverno's results per overlay, and the control's refusal."""
    refused = report.control is not None and _counts(report.control).get("fail", 0) > 0
    return AdmissionResult({o.target: _counts(o) for o in report.overlays}, refused)


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop admission-check --images FILE [--cosign-pub FILE] [--json OUT]`."""
    parser.add_argument("--images", type=Path, required=True, help="reports/images.json")
    parser.add_argument("--cosign-pub", type=Path, default=LOCAL_DIR / "cosign" / "cosign.pub")
    parser.add_argument("--control-image", help="an unsigned NAME@sha256:... (default: push one)")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--result", type=Path, help="write the typed stage result here")


def run_command(args: argparse.Namespace) -> int:
    """Exit 0 only when every overlay passes every policy and the unsigned control is refused."""
    try:
        images = load_images(args.images)
        control = parse_ref(args.control_image) if args.control_image else None
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    try:
        key = args.cosign_pub.read_text()
    except OSError as exc:
        raise UsageError(f"{args.cosign_pub}: cannot read the cosign public key") from exc
    report = check(images, key, control)
    failed = list(report.problems)
    for outcome in [*report.overlays, *([report.control] if report.control else [])]:
        passed = sum(1 for r in outcome.results if r.get("result") == "pass")
        print(f"{outcome.target}: {passed} passed, {len(outcome.results) - passed} not passed")
        if outcome is not report.control:
            failed += [f"{outcome.target}: {p}" for p in outcome.problems]
    for problem in failed:
        print(f"FAIL {problem}")
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2, default=str) + "\n")
    if args.result:
        write_result(args.result, outcome_of(report))
    print(
        "admission-check: " + ("FAILED" if failed else "every overlay admitted, unsigned refused")
    )
    return 1 if failed else 0
