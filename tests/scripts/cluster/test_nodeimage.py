"""The node image's inputs: its content key, the images it carries, its manifests."""

from __future__ import annotations

import pytest
import yaml

from microshop_ci.cluster import nodeimage
from microshop_ci.cluster.pins import pin, pins


def test_content_key_changes_with_a_pinned_version(monkeypatch: pytest.MonkeyPatch) -> None:
    before = nodeimage.content_key()
    assert before == nodeimage.content_key()  # stable for the same inputs
    changed = {**pins(), "COREDNS_VERSION": "v0.0.0"}
    monkeypatch.setattr(nodeimage, "pin", lambda key: changed[key])
    assert nodeimage.content_key() != before


def test_node_image_is_named_by_kubernetes_version_and_key() -> None:
    name = nodeimage.node_image_name()
    assert name == f"microshop/kind-node:{pin('KUBERNETES_VERSION')}-{nodeimage.content_key()}"


def test_kubeadm_images_carry_the_names_kubeadm_asks_for() -> None:
    names = [spec.name for spec in nodeimage.image_specs()]
    version = pin("KUBERNETES_VERSION")
    for command in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
        assert f"registry.k8s.io/{command}:{version}" in names
    assert "registry.k8s.io/etcd:3.6.8-0" in names
    assert f"registry.k8s.io/coredns/coredns:{pin('COREDNS_VERSION')}" in names
    assert f"registry.k8s.io/pause:{pin('PAUSE_VERSION')}" in names
    assert len(names) == len(set(names))


def test_manifests_name_built_images_and_keep_kinds_template_marker() -> None:
    carried = {spec.name for spec in nodeimage.image_specs()}
    cni = nodeimage.manifest("default-cni.yaml")
    storage = nodeimage.manifest("default-storage.yaml")
    assert "__" not in cni + storage  # every placeholder filled
    assert cni.startswith("# would you kindly template this file")
    assert "{{ .PodSubnet }}" in cni
    for text in (cni, storage):
        docs = [
            d for d in yaml.safe_load_all(text.replace("{{ .PodSubnet }}", "10.244.0.0/16")) if d
        ]
        for doc in docs:
            pod = doc.get("spec", {}).get("template", {}).get("spec", {})
            for container in pod.get("initContainers", []) + pod.get("containers", []):
                assert container["image"] in carried, container["image"]
