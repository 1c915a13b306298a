"""The pinned components: version stamps, the standalone Kubernetes module, the pins file."""

from __future__ import annotations

from pathlib import Path

import pytest

from microshop_ci.cluster import components, kyverno
from microshop_ci.cluster.pins import PinError, pin, pins
from microshop_ci.core.gobuild import BuildError

GO_MOD = """module k8s.io/kubernetes

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tgithub.com/other/thing => github.com/fork/thing v1.2.3
)
"""


def test_staging_modules_are_published_as_v0_of_the_same_minor() -> None:
    assert components.staging_version("v1.36.1") == "v0.36.1"


def test_kubernetes_ldflags_stamp_both_version_packages() -> None:
    flags = components.kubernetes_ldflags("v1.36.1")
    for package in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        assert f"-X {package}.gitVersion=v1.36.1" in flags
        assert f"-X {package}.gitMajor=1" in flags
        assert f"-X {package}.gitMinor=36" in flags
        assert f"-X {package}.gitTreeState=clean" in flags


def test_prepare_kubernetes_points_staging_at_the_module_proxy(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text(GO_MOD)
    (tmp_path / "go.work").write_text("go 1.26\n")
    (tmp_path / "vendor").mkdir()
    components.prepare_kubernetes(tmp_path, "v1.36.1")
    text = (tmp_path / "go.mod").read_text()
    assert "\tk8s.io/api => k8s.io/api v0.36.1\n" in text
    assert "\tk8s.io/client-go => k8s.io/client-go v0.36.1\n" in text
    assert "github.com/other/thing => github.com/fork/thing v1.2.3" in text
    assert "./staging" not in text
    assert not (tmp_path / "go.work").exists()
    assert not (tmp_path / "vendor").exists()


def test_prepare_kubernetes_refuses_a_go_mod_without_staging(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module k8s.io/kubernetes\n")
    with pytest.raises(BuildError, match=r"has no \./staging replace lines"):
        components.prepare_kubernetes(tmp_path, "v1.36.1")


def test_etcd_wrapper_requires_exactly_the_pinned_etcd(tmp_path: Path) -> None:
    source = components.ETCD.local_source
    assert source is not None
    components.prepare_etcd(source, pin("ETCD_VERSION"))  # the committed wrapper agrees
    (tmp_path / "go.mod").write_text("require go.etcd.io/etcd/server/v3 v3.5.0\n")
    with pytest.raises(BuildError, match=r"does not require go.etcd.io/etcd/server/v3 v3\.6\.8"):
        components.prepare_etcd(tmp_path, "v3.6.8")


def test_every_component_is_pinned() -> None:
    assert {c.name: c.version for c in components.ALL}.keys() == {
        "kubernetes", "etcd", "containerd", "runc", "crictl", "cni-plugins", "coredns",
        "kube-router", "local-path-provisioner",
    }  # fmt: skip
    assert kyverno.KYVERNO.version == pin("KYVERNO_VERSION")  # built for the registry, not the node
    assert all(c.version.startswith("v") for c in (*components.ALL, kyverno.KYVERNO))


def test_by_name_names_the_known_components_when_it_fails() -> None:
    with pytest.raises(KeyError, match="unknown component 'kindnetd' \\(known: kubernetes, "):
        components.by_name("kindnetd")


def test_pins_skip_comments_and_a_missing_pin_names_the_file(tmp_path: Path) -> None:
    env = tmp_path / "versions.env"
    env.write_text("# a comment\n\nA=1\n B = two \n")
    assert pins(env) == {"A": "1", "B": "two"}
    with pytest.raises(PinError, match=r"NOPE is not set in scripts/tool-versions.env"):
        pin("NOPE")


def test_the_second_docker_engine_is_built_on_demand_and_stamped_with_its_module_version() -> None:
    moby = components.MOBY
    assert [c.name for c in components.ENGINE] == ["moby", "docker-cli"]
    assert moby not in components.ALL  # not part of the node image's key
    assert moby.version == pin("MOBY_VERSION")
    assert moby.packages == ("./cmd/dockerd", "./cmd/docker-proxy")
    assert not moby.cgo
    assert moby.tags == "netgo osusergo static_build nri_no_wasm"
    assert moby.ldflags(moby.version) == (
        f"-s -w -X github.com/moby/moby/v2/dockerversion.Version={moby.version}"
        f" -X github.com/moby/moby/v2/dockerversion.GitCommit={moby.version}"
    )


def test_the_docker_cli_builds_from_its_vendor_mod_and_reports_its_calver(tmp_path: Path) -> None:
    cli = components.DOCKER_CLI
    assert cli.version == pin("DOCKER_CLI_VERSION")
    assert "-X github.com/docker/cli/cli/version.Version=29.8.2 " in cli.ldflags(
        "v29.8.2+incompatible"
    )
    (tmp_path / "vendor.mod").write_text("module github.com/docker/cli\n")
    (tmp_path / "vendor.sum").write_text("")
    components.prepare_docker_cli(tmp_path, cli.version)
    assert (tmp_path / "go.mod").read_text() == "module github.com/docker/cli\n"
    assert not (tmp_path / "vendor.mod").exists()
    with pytest.raises(BuildError, match=r"no vendor\.mod in the module"):
        components.prepare_docker_cli(tmp_path, cli.version)
