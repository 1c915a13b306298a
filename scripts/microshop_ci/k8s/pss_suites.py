"""The pod-security policies' CLI suites, generated from pss_controls: every case as a Pod and as
each autogen controller (Deployment, StatefulSet, Job, CronJob), plus the compliant pod and the
compliant pod with Istio's injected sidecar, which every pod-security policy must admit.

Usage: microshop pss-suites write|check|table
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from microshop_ci.k8s.common import POLICIES_DIR
from microshop_ci.k8s.pss_controls import (
    CATEGORY,
    PSS_POLICY,
    PSS_RULE,
    SUITES,
    Case,
    Pod,
    Suite,
)

KINDS = ("Pod", "Deployment", "StatefulSet", "Job", "CronJob")
IMAGE = "127.0.0.1:5000/api-service@sha256:" + "a" * 64
PROXY_IMAGE = "docker.io/istio/proxyv2:1.30.3"
NAMESPACE = "microshop"
HEADER = "# Generated from pss_controls.py by `microshop pss-suites write`.\n"
RESOURCES = "resources.yaml"


def compliant_pod(name: str) -> Pod:
    """A pod that meets every pod-security policy (and so the restricted profile)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE,
                     "labels": {"app.kubernetes.io/name": name}},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "app",
                "image": IMAGE,
                "securityContext": {"allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                                    "runAsUser": 65532, "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                              "limits": {"cpu": "100m", "memory": "128Mi"}},
                "ports": [{"containerPort": 8000}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8000}},
            }],
        },
    }  # fmt: skip


def _proxy_security_context() -> dict[str, Any]:
    # As Istio's injection template sets it with the CNI plugin (no NET_ADMIN, no root).
    return {"allowPrivilegeEscalation": False, "privileged": False,
            "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
            "runAsGroup": 1337, "runAsNonRoot": True, "runAsUser": 1337}  # fmt: skip


def with_istio_sidecar(pod: Pod) -> Pod:
    """The pod as Istio 1.30's injector leaves it with the CNI plugin and native sidecars:
    the istio-validation init container (checks the CNI's redirect, no istio-init) and
    istio-proxy as an init container with restartPolicy: Always, both uid 1337."""
    pod = copy.deepcopy(pod)
    resources = {"requests": {"cpu": "100m", "memory": "128Mi"},
                 "limits": {"cpu": "2", "memory": "1Gi"}}  # fmt: skip
    ready = {"httpGet": {"path": "/healthz/ready", "port": 15021}}
    meta = pod["metadata"]
    meta.setdefault("labels", {}).update({
        "security.istio.io/tlsMode": "istio",
        "service.istio.io/canonical-name": meta["name"],
        "service.istio.io/canonical-revision": "latest",
    })  # fmt: skip
    meta.setdefault("annotations", {}).update({
        "istio.io/rev": "default",
        "kubectl.kubernetes.io/default-container": "app",
        "kubectl.kubernetes.io/default-logs-container": "app",
        "sidecar.istio.io/interceptionMode": "REDIRECT",
        "sidecar.istio.io/status": '{"initContainers":["istio-validation","istio-proxy"],'
                                   '"volumes":["workload-socket","credential-socket",'
                                   '"workload-certs","istio-envoy","istio-data","istio-podinfo",'
                                   '"istio-token","istiod-ca-cert","istio-ca-crl"]}',
        "traffic.sidecar.istio.io/excludeInboundPorts": "15020",
        "traffic.sidecar.istio.io/includeInboundPorts": "*",
        "traffic.sidecar.istio.io/includeOutboundIPRanges": "*",
    })  # fmt: skip
    validation = {
        "name": "istio-validation",
        "image": PROXY_IMAGE,
        "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
                 "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020",
                 "--log_output_level=default:info", "--run-validation", "--skip-rule-apply"],
        "resources": resources,
        "securityContext": _proxy_security_context(),
    }  # fmt: skip
    mounts = [
        ("workload-socket", "/var/run/secrets/workload-spiffe-uds"),
        ("credential-socket", "/var/run/secrets/credential-uds"),
        ("workload-certs", "/var/run/secrets/workload-spiffe-credentials"),
        ("istiod-ca-cert", "/var/run/secrets/istio"),
        ("istio-ca-crl", "/var/run/secrets/istio/crl"),
        ("istio-data", "/var/lib/istio/data"),
        ("istio-envoy", "/etc/istio/proxy"),
        ("istio-token", "/var/run/secrets/tokens"),
        ("istio-podinfo", "/etc/istio/pod"),
    ]
    proxy = {
        "name": "istio-proxy",
        "image": PROXY_IMAGE,
        "restartPolicy": "Always",
        "ports": [{"containerPort": 15090, "protocol": "TCP", "name": "http-envoy-prom"}],
        "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
                 "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error"],
        "env": [{"name": "POD_NAMESPACE",
                 "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
        "startupProbe": {**ready, "periodSeconds": 1, "timeoutSeconds": 3,
                         "failureThreshold": 600},
        "readinessProbe": {**ready, "periodSeconds": 15, "timeoutSeconds": 3,
                           "failureThreshold": 4},
        "resources": resources,
        "securityContext": _proxy_security_context(),
        "volumeMounts": [{"name": n, "mountPath": p} for n, p in mounts],
    }  # fmt: skip
    spec = pod["spec"]
    spec["initContainers"] = [validation, proxy, *spec.get("initContainers", [])]
    spec.setdefault("volumes", []).extend([
        {"name": "workload-socket", "emptyDir": {}},
        {"name": "credential-socket", "emptyDir": {}},
        {"name": "workload-certs", "emptyDir": {}},
        {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
        {"name": "istio-data", "emptyDir": {}},
        {"name": "istio-podinfo", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}]}},
        {"name": "istio-token", "projected": {"sources": [{"serviceAccountToken": {
            "path": "istio-token", "expirationSeconds": 43200, "audience": "istio-ca"}}]}},
        {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}},
        {"name": "istio-ca-crl", "configMap": {"name": "istio-ca-crl", "optional": True}},
    ])  # fmt: skip
    return pod


def _sidecar(pod: Pod) -> None:
    injected = with_istio_sidecar(pod)
    pod.clear()
    pod.update(injected)


COMPLIANT = (Case("good", lambda pod: None), Case("good-istio-sidecar", _sidecar))


def case_pod(case: Case, *, live: bool = False) -> Pod:
    """The compliant pod with the case's one change (and, live, what validation needs)."""
    pod = compliant_pod(case.name)
    case.change(pod)
    if live and case.live is not None:
        case.live(pod)
    return pod


def resource_name(case: Case, kind: str) -> str:
    """Pods keep the case's name; a controller adds its kind (bad-privileged-deployment)."""
    return case.name if kind == "Pod" else f"{case.name}-{kind.lower()}"


def as_kind(pod: Pod, kind: str, name: str) -> dict[str, Any]:
    """The pod itself, or a controller of that kind whose template is the pod."""
    if kind == "Pod":
        return {**pod, "metadata": {**pod["metadata"], "name": name}}
    labels = {"app.kubernetes.io/name": name}
    template_meta: dict[str, Any] = {"labels": {**pod["metadata"].get("labels", {}), **labels}}
    if pod["metadata"].get("annotations"):
        template_meta["annotations"] = pod["metadata"]["annotations"]
    spec = copy.deepcopy(pod["spec"])
    if kind in ("Job", "CronJob"):
        spec["restartPolicy"] = "Never"
    template = {"metadata": template_meta, "spec": spec}
    meta = {"name": name, "namespace": pod["metadata"]["namespace"], "labels": labels}
    body: dict[str, Any]
    if kind == "Deployment":
        body = {"replicas": 1, "selector": {"matchLabels": labels}, "template": template}
    elif kind == "StatefulSet":
        body = {"replicas": 1, "serviceName": name, "selector": {"matchLabels": labels},
                "template": template}  # fmt: skip
    elif kind == "Job":
        body = {"backoffLimit": 0, "template": template}
    else:
        body = {
            "schedule": "0 3 * * *",
            "jobTemplate": {"spec": {"backoffLimit": 0, "template": template}},
        }
    api = "apps/v1" if kind in ("Deployment", "StatefulSet") else "batch/v1"
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": body}


def rule_for(rule: str, kind: str) -> str:
    """The rule name Kyverno's autogen gives a Pod rule on a controller."""
    if kind == "Pod":
        return rule
    return f"autogen-cronjob-{rule}" if kind == "CronJob" else f"autogen-{rule}"


def pss_suite() -> Suite:
    """The podSecurity policy's suite: every case of every suite, failing iff the standard does."""
    cases = tuple(
        Case(c.name, c.change, (PSS_RULE,) if c.pss else (), c.pss, c.live, misses=c.pss_misses)
        for s in SUITES
        for c in s.cases
    )
    controls = tuple(sorted({c for s in SUITES for c in s.controls}))
    return Suite(PSS_POLICY, (PSS_RULE,), controls, cases)


def all_suites() -> tuple[Suite, ...]:
    """Every generated suite: each named policy's, then the podSecurity policy's."""
    return (*SUITES, pss_suite())


def suite_cases(suite: Suite) -> tuple[Case, ...]:
    """The suite's own cases after the compliant pod and the pod with the Istio sidecar."""
    return (*COMPLIANT, *suite.cases)


def _documents(suite: Suite) -> Iterator[dict[str, Any]]:
    for kind in KINDS:
        for case in suite_cases(suite):
            yield as_kind(case_pod(case), kind, resource_name(case, kind))


def _results(suite: Suite) -> list[dict[str, Any]]:
    results = []
    for rule in suite.rules:
        for kind in KINDS:
            for outcome in ("pass", "fail"):
                names = [
                    resource_name(c, kind)
                    for c in suite_cases(suite)
                    if (rule in c.fails and kind not in c.misses) == (outcome == "fail")
                ]
                if names:
                    row = {"policy": suite.policy, "rule": rule_for(rule, kind), "kind": kind}
                    results.append({**row, "resources": names, "result": outcome})
    return results


def rendered(suite: Suite) -> dict[str, str]:
    """File name -> text of the suite's .kyverno-test folder."""
    test = {
        "apiVersion": "cli.kyverno.io/v1alpha1",
        "kind": "Test",
        "metadata": {"name": suite.policy},
        "policies": [f"../{suite.policy}.yaml"],
        "resources": [RESOURCES],
        "results": _results(suite),
    }
    docs = yaml.safe_dump_all(_documents(suite), sort_keys=False, width=100)
    return {
        "kyverno-test.yaml": HEADER + yaml.safe_dump(test, sort_keys=False, width=100),
        RESOURCES: HEADER + docs,
    }


def suite_dir(suite: Suite, root: Path = POLICIES_DIR) -> Path:
    """The policy's .kyverno-test folder."""
    return root / CATEGORY / suite.policy / ".kyverno-test"


def stale_files(root: Path = POLICIES_DIR) -> list[Path]:
    """Suite files that differ from what the catalogue generates (or are missing)."""
    stale = []
    for suite in all_suites():
        for name, text in rendered(suite).items():
            path = suite_dir(suite, root) / name
            if not path.is_file() or path.read_text() != text:
                stale.append(path)
    return stale


def write(root: Path = POLICIES_DIR) -> list[Path]:
    """Write every suite; return the files written."""
    written = []
    for suite in all_suites():
        folder = suite_dir(suite, root)
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in rendered(suite).items():
            (folder / name).write_text(text)
            written.append(folder / name)
    return written


def table() -> str:
    """The docs table: Pod Security Standards control -> policy/rule -> test cases."""
    lines = [
        "| PSS control | policy / rule | refused (as Pod, Deployment, StatefulSet, Job, CronJob) "
        "| admitted |",
        "|---|---|---|---|",
    ]  # fmt: skip
    for suite in SUITES:
        named = len(suite.rules) > 1  # say which rule when the policy has more than one
        bad = ", ".join(
            f"`{c.name}`" + (f" ({', '.join(c.fails)})" if named else "")
            for c in suite.cases
            if c.fails
        )
        good = ", ".join(f"`{c.name}`" for c in suite_cases(suite) if not c.fails)
        rules = "<br>".join(f"{suite.policy} / {r}" for r in suite.rules)
        controls = "<br>".join(suite.controls) or "(MicroShop, beyond the standard)"
        lines.append(f"| {controls} | {rules} | {bad} | {good} |")
    beyond = ", ".join(f"`{c.name}`" for s in SUITES for c in s.cases if c.fails and not c.pss)
    missed = "; ".join(
        f"`{c.name}` on {', '.join(c.pss_misses)}" for s in SUITES for c in s.cases if c.pss_misses
    )
    lines.append(
        f"| every control of restricted (and so baseline) | {PSS_POLICY} / {PSS_RULE} "
        "(podSecurity, level restricted, version latest) | every refused case above except "
        f"MicroShop's stricter ones (Kyverno misses {missed}) "
        f"| every admitted case above, and {beyond} |"
    )
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop pss-suites write|check|table`."""
    parser.add_argument("action", choices=("write", "check", "table"))


def run_command(args: argparse.Namespace) -> int:
    """write: regenerate the suites; check: exit 1 naming stale files; table: print the table."""
    if args.action == "table":
        print(table())
        return 0
    if args.action == "write":
        print(f"pss_suites: wrote {len(write())} files")
        return 0
    stale = stale_files()
    for path in stale:
        print(f"pss_suites: stale {path} (run: microshop pss-suites write)")
    return 1 if stale else 0
