"""What explains a cluster run (scripts/kind-diagnostics OUT_DIR): kept after every kind run.

Nodes, every resource, events, Kyverno's policies and reports, Istio's resources, the logs of every
pod (current and previous container), Kyverno's, istiod's and the gateway's logs, and kind's own
exported logs. It never fails: a piece that cannot be had is written as a note in its file, so the
rest is still collected.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from microshop_ci.cluster.kind import ClusterSettings, kubectl, tool
from microshop_ci.cluster.run import run
from microshop_ci.core.gobuild import BuildError

# file -> kubectl arguments
KUBECTL = {
    "nodes.txt": "get nodes -o wide",
    "all.txt": "get all,cm,sa,netpol,pdb,hpa -A -o wide",
    "events.txt": "get events -A --sort-by=.lastTimestamp",
    "kyverno-policies.yaml": "get clusterpolicies,policies -A -o yaml",
    "policy-reports.yaml": "get policyreports,clusterpolicyreports -A -o yaml",
    "istio.yaml": "get peerauthentications,authorizationpolicies,requestauthentications,"
    "gateways,virtualservices -A -o yaml",
    "describe-pods.txt": "describe pods -A",
    "kyverno.log": "logs -n kyverno -l app.kubernetes.io/part-of=kyverno"
    " --all-containers --prefix --tail=-1",
    "istiod.log": "logs -n istio-system -l app=istiod --all-containers --prefix --tail=-1",
    "ingressgateway.log": "logs -n istio-system -l app=istio-ingressgateway"
    " --all-containers --prefix --tail=-1",
}


def collect(path: Path, argv: list[str]) -> bool:
    """argv's output (stderr, then stdout) into path; on failure a note of it. True if it ran."""
    path.unlink(missing_ok=True)
    try:
        out = run(argv, step=" ".join(argv), log=path)
    except BuildError as exc:
        with path.open("a") as file:
            file.write(f"({exc})\n")
        return False
    with path.open("a") as file:
        file.write(out)
    return True


def pods(binary: str) -> list[tuple[str, str]]:
    """(namespace, name) of every pod; none when the cluster does not answer."""
    try:
        out = run(
            [binary, "get", "pods", "-A", "--no-headers", "-o",
             "custom-columns=NS:.metadata.namespace,NAME:.metadata.name"],
            step="kubectl get pods -A",
            log=None,
        )  # fmt: skip
    except BuildError:
        return []
    return [(ns, name) for ns, name in (line.split() for line in out.splitlines() if line)]


def diagnose(out: Path) -> None:
    """Write everything there is to out (never raises for what cannot be collected)."""
    (out / "logs").mkdir(parents=True, exist_ok=True)
    try:
        binary = kubectl()
    except BuildError as exc:
        for name in KUBECTL:
            (out / name).write_text(f"({exc})\n")
        return
    for name, args in KUBECTL.items():
        collect(out / name, [binary, *args.split()])
    for namespace, pod in pods(binary):
        base = [binary, "logs", "-n", namespace, pod, "--all-containers", "--prefix", "--tail=-1"]
        collect(out / "logs" / f"{namespace}.{pod}.log", base)
        collect(out / "logs" / f"{namespace}.{pod}.previous.log", [*base, "--previous"])
    try:
        kind = tool("kind")
    except BuildError as exc:
        (out / "kind-export.txt").write_text(f"({exc})\n")
    else:
        name = os.environ.get("KIND_CLUSTER_NAME", ClusterSettings.name)
        collect(
            out / "kind-export.txt", [kind, "export", "logs", str(out / "kind"), "--name", name]
        )
    print(f"[kind-diagnostics] diagnostics in {out}", file=sys.stderr)
