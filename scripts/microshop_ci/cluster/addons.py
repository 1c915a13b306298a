"""Cluster add-ons at pinned versions (scripts/install-cluster-addons): Kyverno, and Istio.

Kyverno is installed from the Helm chart inside its pinned Go module (charts/kyverno, chart 3.9.0
= Kyverno v1.19.0), the same chart on GitHub and here. Three of the chart's dependencies are not in
the module (kyverno-api, openreports, reports-server) and Helm checks every listed dependency
before its condition, so a copy without them is installed, with the policies.kyverno.io CRDs (which
kyverno-api would bring) applied from the module's config/crds first. Images: upstream's on GitHub,
the ones built here into the node image elsewhere (`--images upstream|local`).
Istio: built from the pinned commit with its CNI agent and an ingress gateway on NodePort 30080
(mapped to 127.0.0.1:8080 by the kind config), the same on GitHub and here (mesh.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from microshop_ci.cluster import mesh, nodeimage
from microshop_ci.cluster.gobuild import cache_root, locked, module_dir
from microshop_ci.cluster.kind import kubectl, log_path, tool
from microshop_ci.cluster.pins import pin
from microshop_ci.cluster.run import run

MISSING_DEPENDENCIES = {"kyverno-api", "openreports", "reports-server"}
# Chart value prefix -> the command whose image it runs.
CHART_IMAGES = {
    "admissionController.initContainer.image": "kyverno-init",
    "admissionController.container.image": "kyverno",
    "backgroundController.image": "background-controller",
    "cleanupController.image": "cleanup-controller",
    "reportsController.image": "reports-controller",
    "crds.migration.image": "kyverno-cli",
    "webhooksCleanup.image": "readiness-checker",
    "test.image": "readiness-checker",
}


def kyverno_module() -> Path:
    """The pinned Kyverno module's folder (read-only, in the Go module cache)."""
    return module_dir("github.com/kyverno/kyverno", pin("KYVERNO_VERSION"), log_path())


def kyverno_chart() -> Path:
    """A copy of the module's chart without the dependencies the module does not carry."""
    target = cache_root() / "cluster" / "kyverno-chart" / pin("KYVERNO_VERSION") / "kyverno"
    with locked(target.parent / ".lock"):
        if (target / "Chart.yaml").exists():
            return target
        source = kyverno_module() / "charts" / "kyverno"
        staging = target.with_name("kyverno.partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        for path in [staging, *staging.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        chart = yaml.safe_load((staging / "Chart.yaml").read_text())
        chart["dependencies"] = [
            dep for dep in chart.get("dependencies", []) if dep["name"] not in MISSING_DEPENDENCIES
        ]
        (staging / "Chart.yaml").write_text(yaml.safe_dump(chart, sort_keys=False))
        (staging / "Chart.lock").unlink(missing_ok=True)
        staging.rename(target)
    return target


def local_image_values() -> list[str]:
    """--set values that point every Kyverno image at the ones in the node image."""
    values = []
    for prefix, command in CHART_IMAGES.items():
        name, _, tag = nodeimage.addon_image(f"kyverno/{command}", "KYVERNO_VERSION").rpartition(
            ":"
        )
        registry, _, repository = name.partition("/")
        values += [
            f"{prefix}.registry={registry}",
            f"{prefix}.repository={repository}",
            f"{prefix}.tag={tag}",
            f"{prefix}.pullPolicy=IfNotPresent",
        ]
    return values


def install_kyverno(images: str) -> None:
    """Kyverno's CRDs and chart; waits until its Deployments are available."""
    crds = kyverno_module() / "config" / "crds" / "policies.kyverno.io"
    run(
        [kubectl(), "apply", "--server-side", "-f", str(crds)],
        step="kubectl apply Kyverno policies.kyverno.io CRDs",
        log=log_path(),
    )
    values = [
        "features.registryClient.allowInsecure=true",
        "admissionController.replicas=1",
        # A test cluster: the background scan re-checks existing resources every minute, not hour.
        "features.backgroundScan.backgroundScanInterval=1m",
        # A two-core kind node: the chart's 100m CPU request per controller left the e2e probe
        # pods unschedulable (measured: 2,050m of 2,000m requested). Limits stay the chart's.
        *(
            f"{prefix}.resources.requests.cpu=10m"
            for prefix in (
                "admissionController.container",
                "backgroundController",
                "cleanupController",
                "reportsController",
            )
        ),
    ]
    if images == "local":
        values += local_image_values()
    argv = [
        tool("helm"),
        "upgrade",
        "--install",
        "kyverno",
        str(kyverno_chart()),
        "--namespace",
        "kyverno",
        "--create-namespace",
        "--wait",
        "--timeout",
        "10m",
    ]
    for value in values:
        argv += ["--set", value]
    run(argv, step="helm upgrade --install kyverno (chart in the Kyverno module)", log=log_path())
    wait_available("kyverno")


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


def install(images: str, mesh: bool) -> None:
    """Every add-on the shop relies on: Kyverno, and Istio (or only its CRDs without --mesh)."""
    run(
        [kubectl(), "version"],
        step="no reachable cluster in the current kube-context (scripts/kind-up); kubectl version",
        log=log_path(),
    )
    install_kyverno(images)
    if mesh:
        install_istio()
    else:
        install_istio_crds()
