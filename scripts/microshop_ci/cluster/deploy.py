"""Deploy the shop to the kind cluster for tests/e2e (scripts/kind-deploy).

The Kyverno policies first (rendered for the run's own cosign public key, in Enforce) and only once
each is Ready, then the Secrets (generated at deploy time, never committed) and the overlay with our
images by digest; then every rollout is waited for, bounded. Env: MICROSHOP_COSIGN_PUB (the run's
key, read by the policy rendering), E2E_NAMESPACE (microshop).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from microshop_ci.cluster.kind import kubectl
from microshop_ci.cluster.run import run
from microshop_ci.core.args import parse_with
from microshop_ci.core.gobuild import BuildError
from microshop_ci.k8s import render_cli, secrets


def say(text: str) -> None:
    """One progress line, as the workflow's log shows it."""
    print(f"[kind-deploy] {text}", file=sys.stderr, flush=True)


def render(what: str, out: Path, images: Path, overlay: str, components: Sequence[str]) -> None:
    """microshop render-manifests OVERLAY --what WHAT, in process; BuildError when it refuses."""
    argv = [overlay, "--images", str(images), "--what", what, "-o", str(out)]
    for name in components:
        argv += ["--component", name]
    render_cli.run_command(parse_with(render_cli.configure, "microshop render-manifests", argv))


def rollout_targets(namespace: str) -> list[str]:
    """Every Deployment and StatefulSet of the namespace, as kind/name."""
    names = run(
        [kubectl(), "get", "deployment,statefulset", "-n", namespace, "-o", "name"],
        step=f"kubectl get deployment,statefulset -n {namespace}",
        log=None,
    )
    return names.split()


def deploy(images: Path, overlay: str, components: Sequence[str]) -> None:
    """Policies, then Secrets and the shop, then wait for every rollout (300 s each)."""
    if not images.is_file():
        raise BuildError(
            f"usage: scripts/kind-deploy --images FILE (from scripts/build-images --out): "
            f"{images} is not a file"
        )
    namespace = os.environ.get("E2E_NAMESPACE", "microshop")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        say(f"overlay '{overlay}': the Kyverno policies first, then wait until each is Ready")
        render("policies", work / "policies.yaml", images, overlay, components)
        if "\nkind: ClusterPolicy\n" not in "\n" + (work / "policies.yaml").read_text():
            raise BuildError(
                f"microshop render-manifests {overlay} rendered no Kyverno ClusterPolicy: "
                "the cluster would admit anything"
            )
        apply(work / "policies.yaml")
        run(
            [
                kubectl(),
                "wait",
                "--for=condition=Ready",
                "--timeout=180s",
                "clusterpolicy",
                "--all",
            ],
            step="wait until every ClusterPolicy is Ready",
            log=None,
        )
        say("secrets (generated at deploy time), then the shop")
        namespace_yaml = run(
            [kubectl(), "create", "namespace", namespace, "--dry-run=client", "-o", "yaml"],
            step=f"kubectl create namespace {namespace} --dry-run",
            log=None,
        )
        run(
            [kubectl(), "apply", "-f", "-"],
            stdin=namespace_yaml.encode(),
            step=f"kubectl apply namespace {namespace}",
            log=None,
        )
        database = ["--database", "ferretdb"] if "ferretdb" in components else []
        argv = [overlay, "--namespace", namespace, *database]
        secrets.run_command(parse_with(secrets.configure, "microshop deploy-secrets", argv))
        render("manifests", work / "manifests.yaml", images, overlay, components)
        apply(work / "manifests.yaml")
    for target in rollout_targets(namespace):
        run(
            [kubectl(), "rollout", "status", "-n", namespace, target, "--timeout=300s"],
            step=f"rollout of {target} in {namespace}",
            log=None,
        )
    say(f"shop deployed in namespace {namespace}")


def apply(path: Path) -> None:
    """kubectl apply --server-side of one rendered file."""
    run(
        [kubectl(), "apply", "--server-side", "-f", str(path)],
        step=f"kubectl apply {path.name}",
        log=None,
    )
