"""Kyverno's chart renders every container from the images built here, each by digest."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from microshop_ci.cluster import kyverno
from microshop_ci.cluster.pins import pin
from tests.conftest import tool_path

VERSION = pin("KYVERNO_VERSION")
REGISTRY = "kind-registry:5000"


def _refs() -> dict[str, str]:
    """A distinct made-up digest per image, as build_images() returns them."""
    names = sorted(set(kyverno.CHART_IMAGES.values()))
    return {
        name: f"{REGISTRY}/kyverno/{name}@sha256:{index:064x}"
        for index, name in enumerate(names, start=1)
    }


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {})
    pod = spec.get("jobTemplate", {}).get("spec", spec).get("template", {}).get("spec", spec)
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    argv = [tool_path("helm"), "template", "kyverno", str(kyverno.chart()), "-n", "kyverno"]
    for value in kyverno.image_values(_refs()):
        argv += ["--set", value]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def test_values_join_to_the_tag_and_the_digest_of_each_image() -> None:
    values = dict(value.split("=", 1) for value in kyverno.image_values(_refs()))
    prefix = "admissionController.container.image"
    assert values[f"{prefix}.registry"] == REGISTRY
    assert values[f"{prefix}.repository"] == "kyverno/kyverno"
    digest = _refs()["kyverno"].partition("@")[2]
    assert values[f"{prefix}.tag"] == f"{VERSION}@{digest}"
    assert len(values) == 4 * len(kyverno.CHART_IMAGES)


def test_every_rendered_container_runs_a_built_image_by_digest(
    rendered: list[dict[str, Any]],
) -> None:
    expected = {
        name: f"{ref.partition('@')[0]}:{VERSION}@{ref.partition('@')[2]}"
        for name, ref in _refs().items()
    }
    images = {c["image"] for doc in rendered for c in _containers(doc)}
    # the four controllers, the init container and the two hooks the chart renders by default
    assert images == {
        expected[name]
        for name in (
            "kyverno",
            "kyverno-init",
            "background-controller",
            "cleanup-controller",
            "reports-controller",
            "kyverno-cli",
            "readiness-checker",
        )
    }


def test_the_cli_image_runs_the_kyverno_command_every_other_its_own() -> None:
    assert 'ENTRYPOINT ["/kyverno"]' in kyverno.dockerfile("kyverno")
    text = kyverno.dockerfile("reports-controller")
    assert text.startswith("FROM scratch\n")
    assert "USER 65534:65534" in text
    assert 'ENTRYPOINT ["/reports-controller"]' in text
