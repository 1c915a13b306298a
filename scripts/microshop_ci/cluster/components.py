"""The pinned Go components of the local cluster: node binaries and add-on commands."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

from microshop_ci.cluster.pins import pin
from microshop_ci.core.gobuild import REPO_ROOT, BuildError, GoComponent

KUBERNETES_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
    "kubelet",
    "kubeadm",
    "kubectl",
)
# A fixed build date keeps the binaries the same whoever builds them (upstream stamps the time).
BUILD_DATE = "1970-01-01T00:00:00Z"
_STAGING_REPLACE = re.compile(r"^(\s*)(k8s\.io/[\w.-]+) => \./staging/src/\S+$", re.MULTILINE)


def kubernetes_ldflags(version: str) -> str:
    """The version stamps upstream's hack/lib/version.sh sets (kubeadm parses them)."""
    major, minor = version.removeprefix("v").split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate={BUILD_DATE}",
        ]
    return " ".join(flags)


def staging_version(version: str) -> str:
    """The published version of the staging modules: v1.36.1 -> v0.36.1."""
    return "v0." + version.removeprefix("v1.")


def prepare_kubernetes(work: Path, version: str) -> None:
    """Build the module zip standalone: no workspace, no vendor, staging from the module proxy."""
    for name in ("go.work", "go.work.sum"):
        (work / name).unlink(missing_ok=True)
    shutil.rmtree(work / "vendor", ignore_errors=True)
    gomod = work / "go.mod"
    text, count = _STAGING_REPLACE.subn(
        rf"\1\2 => \2 {staging_version(version)}", gomod.read_text()
    )
    if count == 0:
        raise BuildError(f"k8s.io/kubernetes@{version}: go.mod has no ./staging replace lines")
    gomod.write_text(text)


def prepare_etcd(work: Path, version: str) -> None:
    """Our wrapper module must require exactly the pinned etcd server."""
    wanted = f"go.etcd.io/etcd/server/v3 {version}"
    if wanted not in (work / "go.mod").read_text():
        raise BuildError(f"scripts/cluster-src/etcd/go.mod does not require {wanted}")


KUBERNETES = GoComponent(
    name="kubernetes",
    module="k8s.io/kubernetes",
    pin_key="KUBERNETES_VERSION",
    packages=tuple(f"./cmd/{c}" for c in KUBERNETES_COMMANDS),
    tags="selinux,notest,grpcnotrace",
    ldflags=kubernetes_ldflags,
    prepare=prepare_kubernetes,
)
# kubectl alone, from the same module, version and flags: the client where no node is built here
# (GitHub's kind run pulls kind's node image), so that no kubectl binary is downloaded.
KUBECTL = replace(KUBERNETES, name="kubectl", packages=("./cmd/kubectl",))
ETCD = GoComponent(
    name="etcd",
    module="go.etcd.io/etcd/server/v3",
    pin_key="ETCD_VERSION",
    packages=(".",),
    prepare=prepare_etcd,
    local_source=REPO_ROOT / "scripts" / "cluster-src" / "etcd",
)
CONTAINERD = GoComponent(
    name="containerd",
    module="github.com/containerd/containerd/v2",
    pin_key="CONTAINERD_VERSION",
    packages=("./cmd/containerd", "./cmd/ctr", "./cmd/containerd-shim-runc-v2"),
    tags="no_aufs no_zfs no_btrfs no_devmapper",
    ldflags=lambda v: f"-s -w -X github.com/containerd/containerd/v2/version.Version={v}",
)
RUNC = GoComponent(
    name="runc",
    module="github.com/opencontainers/runc",
    pin_key="RUNC_VERSION",
    packages=(".",),
    cgo=True,  # libseccomp (Debian's libseccomp-dev here, libseccomp2 on the node)
    tags="seccomp urfave_cli_no_docs",
    ldflags=lambda v: f"-s -w -X main.version={v.removeprefix('v')}",
)
CRICTL = GoComponent(
    name="crictl",
    module="sigs.k8s.io/cri-tools",
    pin_key="CRICTL_VERSION",
    packages=("./cmd/crictl",),
    ldflags=lambda v: f"-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version={v}",
)
CNI_PLUGINS = GoComponent(
    name="cni-plugins",
    module="github.com/containernetworking/plugins",
    pin_key="CNI_PLUGINS_VERSION",
    packages=(
        "./plugins/ipam/host-local",
        "./plugins/main/loopback",
        "./plugins/main/bridge",
        "./plugins/main/ptp",
        "./plugins/meta/portmap",
    ),
)
COREDNS = GoComponent(
    name="coredns",
    module="github.com/coredns/coredns",
    pin_key="COREDNS_VERSION",
    packages=(".",),
)
LOCAL_PATH_PROVISIONER = GoComponent(
    name="local-path-provisioner",
    module="github.com/rancher/local-path-provisioner",
    pin_key="LOCAL_PATH_PROVISIONER_VERSION",
    packages=(".",),
    ldflags=lambda v: f"-s -w -X main.VERSION={v}",
)
KUBE_ROUTER = GoComponent(
    name="kube-router",
    module="github.com/cloudnativelabs/kube-router/v2",
    pin_key="KUBE_ROUTER_VERSION",
    packages=("./cmd/kube-router",),
    ldflags=lambda v: f"-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version={v}",
)
# A current Docker Engine (the 29.x line GitHub's ubuntu-24.04 runners ship), built from moby's Go
# module with the tags of upstream's static build (hack/make.sh), without cgo. Not part of the
# node: tests/scripts/build/test_docker29.py starts it as a second, isolated engine to prove the
# image build on the containerd image store. dockerversion.Version carries the module version;
# the Docker release it belongs to is in the module's releases/versions.yaml.
MOBY = GoComponent(
    name="moby",
    module="github.com/moby/moby/v2",
    pin_key="MOBY_VERSION",
    packages=("./cmd/dockerd", "./cmd/docker-proxy"),
    tags="netgo osusergo static_build nri_no_wasm",
    ldflags=lambda v: (
        f"-s -w -X github.com/moby/moby/v2/dockerversion.Version={v}"
        f" -X github.com/moby/moby/v2/dockerversion.GitCommit={v}"
    ),
)


def prepare_docker_cli(work: Path, version: str) -> None:
    """docker/cli keeps its module file as vendor.mod (CalVer, no go.mod): make it the go.mod."""
    for source, target in (("vendor.mod", "go.mod"), ("vendor.sum", "go.sum")):
        if not (work / source).exists():
            raise BuildError(f"github.com/docker/cli@{version}: no {source} in the module")
        (work / source).rename(work / target)


# The Docker CLI of the same 29.x line (docker/cli's own module, CalVer tags served as
# +incompatible), so the second engine is driven as a runner drives it. Tags and stamps as
# docker/cli's scripts/build/.variables sets them for a static build.
DOCKER_CLI = GoComponent(
    name="docker-cli",
    module="github.com/docker/cli",
    pin_key="DOCKER_CLI_VERSION",
    packages=("./cmd/docker",),
    tags="grpcnotrace osusergo netgo",
    ldflags=lambda v: (
        "-s -w -X github.com/docker/cli/cli/version.Version="
        + v.removeprefix("v").removesuffix("+incompatible")
        + f" -X github.com/docker/cli/cli/version.GitCommit={v}"
    ),
    prepare=prepare_docker_cli,
)

NODE = (KUBERNETES, ETCD, CONTAINERD, RUNC, CRICTL, CNI_PLUGINS, COREDNS)
ADDONS = (KUBE_ROUTER, LOCAL_PATH_PROVISIONER)
ALL = (*NODE, *ADDONS)
ENGINE = (MOBY, DOCKER_CLI)  # built on demand only: not in the node image's key
CLIENT = (KUBECTL,)  # built on demand only (scripts/build-kubectl)


def by_name(name: str) -> GoComponent:
    """The component called name (as in the cache folder)."""
    for component in ALL:
        if component.name == name:
            return component
    raise KeyError(f"unknown component {name!r} (known: {', '.join(c.name for c in ALL)})")


__all__ = ["ADDONS", "ALL", "CLIENT", "ENGINE", "NODE", "by_name", "pin"]
