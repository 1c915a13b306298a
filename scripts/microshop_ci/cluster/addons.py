"""Cluster add-ons at pinned versions (scripts/install-cluster-addons): Kyverno, and Istio.

Kyverno: the chart and the images from its pinned Go module, images by digest (kyverno.py).
Istio: built from the pinned commit with its CNI agent and an ingress gateway on NodePort 30080
(mapped to 127.0.0.1:8080 by the kind config), the same on GitHub and here (mesh.py).
"""

from __future__ import annotations

from microshop_ci.cluster import kyverno, mesh
from microshop_ci.cluster.kind import kubectl, log_path
from microshop_ci.cluster.pins import pin
from microshop_ci.cluster.run import run
from microshop_ci.core.gobuild import module_dir


def wait_available(namespace: str) -> None:
    """Wait (bounded: 300 s) until every Deployment in namespace is Available."""
    run(
        [
            kubectl(),
            "wait",
            "--for=condition=Available",
            "--timeout=300s",
            "-n",
            namespace,
            "deployment",
            "--all",
        ],
        step=f"wait for the Deployments in {namespace}",
        log=log_path(),
    )


def install_istio() -> None:
    """Istio built from the pinned commit (mesh.py), its CNI agent and an ingress gateway."""
    mesh.install()
    wait_available("istio-system")
    run(
        [
            kubectl(),
            "rollout",
            "status",
            "--timeout=300s",
            "-n",
            "istio-system",
            "ds/istio-cni-node",
        ],
        step="wait for the Istio CNI node agent",
        log=log_path(),
    )


def install_istio_crds() -> None:
    """Only Istio's CRDs (from the pinned Istio module), for a cluster without the mesh."""
    crds = module_dir("istio.io/istio", pin("ISTIOCTL_VERSION"), log_path())
    path = crds / "manifests" / "charts" / "base" / "files" / "crd-all.gen.yaml"
    run(
        [kubectl(), "apply", "--server-side", "-f", str(path)],
        step="kubectl apply Istio CRDs",
        log=log_path(),
    )


def install(mesh: bool) -> None:
    """Every add-on the shop relies on: Kyverno, and Istio (or only its CRDs without --mesh)."""
    run(
        [kubectl(), "version"],
        step="no reachable cluster in the current kube-context (scripts/kind-up); kubectl version",
        log=log_path(),
    )
    kyverno.install()
    wait_available("kyverno")
    if mesh:
        install_istio()
    else:
        install_istio_crds()
