"""Bring-up settings, the /etc/hosts line and the images file entries of images built here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from microshop_ci.cluster import images, kind
from microshop_ci.core.gobuild import BuildError

REF = "kind-registry:5000/ferretdb@sha256:" + "a" * 64


def test_settings_default_to_one_registry_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MICROSHOP_REGISTRY", raising=False)
    monkeypatch.delenv("KIND_CLUSTER_NAME", raising=False)
    settings = kind.ClusterSettings.from_env()
    assert (settings.name, settings.registry_host, settings.registry_port) == (
        "microshop",
        "kind-registry",
        "5000",
    )


@pytest.mark.parametrize("value", ["kind-registry", "kind-registry:http", ":5000"])
def test_settings_refuse_a_registry_without_host_and_port(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MICROSHOP_REGISTRY", value)
    with pytest.raises(BuildError, match=f"MICROSHOP_REGISTRY must be HOST:PORT, got '{value}'"):
        kind.ClusterSettings.from_env()


def test_hosts_line_is_added_once_and_removed_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n::1 localhost\n")
    monkeypatch.setattr(kind, "HOSTS", hosts)
    monkeypatch.setattr(kind, "log_path", lambda: tmp_path / "kind.log")
    settings = kind.ClusterSettings()
    kind.map_registry_name(settings)
    kind.map_registry_name(settings)
    assert hosts.read_text() == (
        "127.0.0.1 localhost\n::1 localhost\n127.0.0.1 kind-registry # microshop kind registry\n"
    )
    kind.unmap_registry_name()
    assert hosts.read_text() == "127.0.0.1 localhost\n::1 localhost\n"


def test_default_node_source_is_upstream_only_on_github(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert kind.default_node_source() == "upstream"
    monkeypatch.delenv("GITHUB_ACTIONS")
    assert kind.default_node_source() == "local"


def test_database_image_joins_the_images_file(tmp_path: Path) -> None:
    path = tmp_path / "images.json"
    api = {"ref": "kind-registry:5000/api-service@sha256:" + "b" * 64}
    path.write_text(json.dumps({"api-service": api}))
    images.add_to_images_file(path, "ferretdb", REF)
    assert json.loads(path.read_text()) == {
        "api-service": {
            **api,
            "name": "kind-registry:5000/api-service",
            "digest": "sha256:" + "b" * 64,
        },
        "ferretdb": {
            "ref": REF,
            "name": "kind-registry:5000/ferretdb",
            "digest": "sha256:" + "a" * 64,
        },
    }


def test_database_image_refuses_a_broken_images_file(tmp_path: Path) -> None:
    path = tmp_path / "images.json"
    path.write_text("[1, 2]")
    with pytest.raises(BuildError, match=r"images.json: expected an object of service"):
        images.add_to_images_file(path, "ferretdb", REF)
    assert path.read_text() == "[1, 2]"


def test_a_pinned_tool_comes_from_the_one_lookup_and_fails_as_a_build_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MICROSHOP_TOOL_KIND", "/opt/kind")
    kind.pinned_tool.cache_clear()
    try:
        assert kind.tool("kind") == "/opt/kind"
    finally:
        kind.pinned_tool.cache_clear()
    with pytest.raises(BuildError, match=r"^scripts/tool nope failed: unknown tool 'nope' \("):
        kind.tool("nope")
