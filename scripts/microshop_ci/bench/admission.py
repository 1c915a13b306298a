"""`microshop benchmark-admission`: what verifying every admission afresh costs.

Against the cluster the kubeconfig points at (a kept `scripts/cluster-e2e --keep` cluster):
creates dry-run Pods (nothing is stored) by tag through the API server and Kyverno's webhook,
COUNT times with verify-image-signatures as deployed (`useCache: false`: every admission checks
the signature in the registry) and COUNT times with `useCache: true` switched on for the
measurement only (restored afterwards, also on error), and prints the median and p90 latency of
each. The tag is pushed beside the api-service image of the images file with crane.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from microshop_ci.core.errors import MicroshopError
from microshop_ci.core.images import read_images
from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.core.tools import pinned_tool, run_tool
from microshop_ci.k8s import live_policy

POLICY = "verify-image-signatures"
NAMESPACE = "microshop-bench-admission"
SETTLE_SECONDS = 60.0  # bound on waiting for the namespace to be gone


def _pod(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "bench",
                    "image": image,
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "resources": {"limits": {"cpu": "10m", "memory": "16Mi"}},
                }
            ],
        },
    }


def _latencies(core: client.CoreV1Api, image: str, count: int) -> list[float]:
    """Seconds per dry-run admission of a Pod by `image` (one warm-up first, not counted)."""
    times = []
    for index in range(count + 1):
        start = time.perf_counter()
        core.create_namespaced_pod(NAMESPACE, _pod(f"bench-{index}", image), dry_run="All")
        if index:
            times.append(time.perf_counter() - start)
    return times


def _set_use_cache(custom: client.CustomObjectsApi, value: bool) -> None:
    """Set useCache on every verifyImages entry of the live policy; wait until Kyverno is ready."""

    def edit(policy: dict[str, Any]) -> None:
        for rule in policy["spec"]["rules"]:
            for verify in rule.get("verifyImages", []):
                verify["useCache"] = value

    live_policy.change(custom, POLICY, edit)


@contextmanager
def _namespace(core: client.CoreV1Api) -> Iterator[None]:
    try:
        core.create_namespace({"metadata": {"name": NAMESPACE}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    try:
        yield
    finally:
        core.delete_namespace(NAMESPACE)
        deadline = time.monotonic() + SETTLE_SECONDS  # gone, so the next run can create it
        while time.monotonic() < deadline:
            try:
                core.read_namespace(NAMESPACE)
            except ApiException as exc:
                if exc.status == 404:
                    return
                raise
            time.sleep(1)


def _summary(label: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"| {label} | {len(ms)} | {statistics.median(ms):.0f} ms | {p90:.0f} ms |"


def measure(images_file: Path, count: int) -> str:
    """The Markdown table of both settings."""
    image = read_images(images_file, require=["api-service"])["api-service"]
    tag = f"bench-{uuid.uuid4().hex[:8]}"
    run_tool([pinned_tool("crane"), "tag", "--insecure", image.ref, tag])
    by_tag = f"{image.name}:{tag}"
    config.load_kube_config()
    kube = client.ApiClient()
    core, custom = client.CoreV1Api(kube), client.CustomObjectsApi(kube)
    rows = ["| verify-image-signatures | Pods | median | p90 |", "|---|---:|---:|---:|"]
    with _namespace(core):
        rows.append(_summary("useCache: false (as deployed)", _latencies(core, by_tag, count)))
        try:
            _set_use_cache(custom, True)
            rows.append(
                _summary("useCache: true (Kyverno's default)", _latencies(core, by_tag, count))
            )
        finally:
            _set_use_cache(custom, False)
    return "\n".join(rows)


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop benchmark-admission [--images FILE] [--count N]`."""
    parser.add_argument("--images", type=Path, default=REPO_ROOT / "reports" / "images.json")
    parser.add_argument("--count", type=int, default=30, help="admissions per setting")


def run_command(args: argparse.Namespace) -> int:
    """Print the table; the cluster's refusal or absence is one `error: ...` line."""
    try:
        print(measure(args.images, args.count))
    except (ApiException, config.ConfigException) as exc:
        raise MicroshopError(str(exc)) from exc
    return 0
