"""The policies over pods as this install's istiod injects them, without a cluster.

`istioctl kube-inject` (the pinned istioctl, with the injector ConfigMaps that `istioctl manifest
generate` renders from our IstioOperator) adds the sidecar to the kind overlay's workloads; then
`kyverno apply` runs every policy over them except the signature check (it needs the registry;
tests/e2e/cluster checks it live). A sidecar by tag, or from a registry nobody allow-listed, is
refused by name, so a wrong proxy image is caught here, not by the first cluster run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from microshop_ci.admission import check as admission
from microshop_ci.admission.check import SIGNATURE_POLICY, SIGNATURE_RULE
from microshop_ci.cluster import mesh
from microshop_ci.k8s import overlay, policies
from microshop_ci.k8s.images import ImageRef

DIGEST = "sha256:" + "c" * 64
REFS = {
    "pilot": f"kind-registry:5000/istio/pilot@{DIGEST}",
    "proxyv2": f"kind-registry:5000/istio/proxyv2@{DIGEST}",
    "install-cni": f"kind-registry:5000/istio/install-cni@{DIGEST}",
}
UPSTREAM_BY_TAG = "docker.io/istio/proxyv2:1.30.3"
PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
WORKLOADS = ("Deployment", "StatefulSet")


def _injected(refs: dict[str, str], work: Path) -> list[dict[str, Any]]:
    images = {
        name: ImageRef(f"kind-registry:5000/{name}", "sha256:" + char * 64)
        for name, char in (("api-service", "a"), ("client-service", "b"))
    }
    work.mkdir(parents=True, exist_ok=True)
    docs = overlay.documents(overlay.build("kind", images=images))
    workloads = [d for d in docs if d["kind"] in WORKLOADS]
    injected = [d for d in yaml.safe_load_all(mesh.kube_inject(
        yaml.safe_dump_all(workloads), refs, work)) if d]  # fmt: skip
    for doc in injected:  # as the API server defaults them: a volume without a source is emptyDir
        for volume in doc["spec"]["template"]["spec"].get("volumes", []):
            if set(volume) == {"name"}:
                volume["emptyDir"] = {}
    return injected


def _policy_file(work: Path) -> Path:
    rendered = policies.render("local", public_key=PUBLIC_KEY)
    for policy in rendered:
        if policy["metadata"]["name"] == SIGNATURE_POLICY:
            rules = policy["spec"]["rules"]
            policy["spec"]["rules"] = [r for r in rules if r["name"] != SIGNATURE_RULE]
    path = work / "policies.yaml"
    path.write_text(policies.dump(rendered))
    return path


def _sidecar(doc: dict[str, Any]) -> dict[str, Any]:
    """istio-proxy: a container here (kube-inject cannot ask the cluster whether it supports
    native sidecars), an init container with restartPolicy Always in the live cluster."""
    pod = doc["spec"]["template"]["spec"]
    everything = [*pod.get("initContainers", []), *pod["containers"]]
    return next(c for c in everything if c["name"] == "istio-proxy")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mesh-injection")


def test_the_injected_workloads_pass_every_policy(work: Path) -> None:
    docs = _injected(REFS, work / "ours")
    assert sorted(d["metadata"]["name"] for d in docs) == [
        "api-service", "client-service", "mongodb",
    ]  # fmt: skip
    for doc in docs:
        pod = doc["spec"]["template"]["spec"]
        assert [c["name"] for c in pod["initContainers"]] == ["istio-validation"]
        assert _sidecar(doc)["image"] == REFS["proxyv2"]
        assert _sidecar(doc)["securityContext"]["runAsUser"] == 1337
    outcome = admission.kyverno_apply(_policy_file(work), docs, work, "injected")
    assert outcome.problems == []
    passed = {item["policy"] for item in outcome.results if item["result"] == "pass"}
    assert {"require-image-digest", "restrict-image-registries", SIGNATURE_POLICY} <= passed


def test_a_sidecar_by_tag_from_an_unlisted_registry_is_refused_by_name(work: Path) -> None:
    refs = {**REFS, "proxyv2": UPSTREAM_BY_TAG}
    docs = _injected(refs, work / "upstream")
    assert {_sidecar(d)["image"] for d in docs} == {UPSTREAM_BY_TAG}
    outcome = admission.kyverno_apply(_policy_file(work), docs, work, "upstream")
    refused = {
        (item["policy"], item["rule"], r["name"])
        for item in outcome.results
        if item["result"] == "fail"
        for r in item["resources"]
    }
    # Kyverno's autogen rules judge the workloads' pod templates: each one refused three times,
    # for the sidecar alone (every other container is ours by digest, or MongoDB by digest).
    rules = {
        ("require-image-digest", "autogen-require-image-digest"),
        ("restrict-image-registries", "autogen-restrict-image-registries"),
        (SIGNATURE_POLICY, "autogen-restrict-third-party-images"),
    }
    names = ("api-service", "client-service", "mongodb")
    assert refused == {(p, r, n) for p, r in rules for n in names}
    assert len(outcome.problems) == len(rules) * len(names)
