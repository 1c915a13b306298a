"""The kind node's base: Debian bookworm laid out as kind's base image, with pinned binaries.

debootstrap (signatures checked against Debian's archive keyring) with the packages kind's base
image installs, kind's own files from its pinned module (images/base/files: entrypoint, systemd
units, containerd config), containerd, runc, crictl and the CNI plugins built from source, and
systemd trimmed as kind trims it. `docker import` makes it an image, tagged by the content key.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from microshop_ci.cluster import components as c
from microshop_ci.cluster.pins import pin
from microshop_ci.cluster.run import as_root, image_exists, run
from microshop_ci.core.gobuild import BuildError, cache_root, locked, module_dir

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
NODE_PACKAGES = (
    "systemd,systemd-sysv,dbus,conntrack,iptables,ipset,iproute2,ethtool,util-linux,mount,kmod,"
    "libseccomp2,pigz,bash,ca-certificates,curl,jq,procps"
)

KIND_COPIES = (  # (folder in kind's images/base/files, folder in the node, mode)
    ("usr/local/bin", "usr/local/bin", 0o755),
    ("kind", "kind", 0o644),
    ("kind/bin", "kind/bin", 0o755),
    ("etc", "etc", 0o644),
    ("etc/containerd", "etc/containerd", 0o644),
    ("etc/default", "etc/default", 0o644),
    ("etc/sysctl.d", "etc/sysctl.d", 0o644),
    ("etc/systemd/system", "etc/systemd/system", 0o644),
    ("etc/systemd/system/kubelet.service.d", "etc/systemd/system/kubelet.service.d", 0o644),
)
WANTS_TO_CLEAR = (  # as kind's base image: only the units kind enables start in a node
    "lib/systemd/system/multi-user.target.wants",
    "etc/systemd/system/multi-user.target.wants",
    "lib/systemd/system/local-fs.target.wants",
    "lib/systemd/system/basic.target.wants",
)


def _copy_kind_files(root: Path, log: Path) -> None:
    files = module_dir("sigs.k8s.io/kind", pin("KIND_VERSION"), log) / "images" / "base" / "files"
    for source_dir, target_dir, mode in KIND_COPIES:
        target = root / target_dir
        target.mkdir(parents=True, exist_ok=True)
        for source in (files / source_dir).iterdir():
            if source.is_file():
                shutil.copyfile(source, target / source.name)
                (target / source.name).chmod(mode)
    (root / "kind").chmod(0o755)
    (root / "kind" / "bin").chmod(0o755)


def _containerd_config(root: Path) -> None:
    """kind's containerd config with the pause image kubeadm expects of this Kubernetes, and
    restrict_oom_score_adj on: the node lacks CAP_SYS_RESOURCE (dropped by dockerd's runtime
    wrapper), so runc cannot lower a pod's oom_score_adj below containerd's own; containerd
    then clamps the value instead of every sandbox failing (its setting for rootless nodes)."""
    config = root / "etc" / "containerd" / "config.toml"
    text = config.read_text()
    old = next(line for line in text.splitlines() if "sandbox_image" in line)
    pause = f'  sandbox_image = "registry.k8s.io/pause:{pin("PAUSE_VERSION")}"'
    text = text.replace(old, pause)
    restrict = "restrict_oom_score_adj = false"
    if restrict not in text:
        raise BuildError(f"kind's containerd config no longer sets {restrict!r}: review the node")
    config.write_text(text.replace(restrict, "restrict_oom_score_adj = true"))


def _runtime_spec(root: Path, log: Path) -> None:
    """containerd's default OCI spec with kind's product-files hook and without rlimits."""
    ctr = c.CONTAINERD.binary("ctr")
    spec = json.loads(run([str(ctr), "oci", "spec"], step="ctr oci spec", log=log))
    hooks = spec.setdefault("hooks", {}).setdefault("createContainer", [])
    hooks.append({"path": "/kind/bin/mount-product-files.sh"})
    spec["process"].pop("rlimits", None)
    (root / "etc" / "containerd" / "cri-base.json").write_text(json.dumps(spec, indent=2))


def _install_binaries(root: Path) -> None:
    targets = [
        *(
            (c.CONTAINERD.binary(b), "usr/local/bin")
            for b in ("containerd", "ctr", "containerd-shim-runc-v2")
        ),
        (c.RUNC.binary("runc"), "usr/local/sbin"),
        (c.CRICTL.binary("crictl"), "usr/local/bin"),
        *((p, "opt/cni/bin") for p in sorted(c.CNI_PLUGINS.out_dir.iterdir())),
    ]
    for binary, folder in targets:
        (root / folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(binary, root / folder / binary.name)
        (root / folder / binary.name).chmod(0o755)


def _systemd_like_kind(root: Path, log: Path) -> None:
    tmpfiles = root / "lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service"
    tmpfiles.unlink(missing_ok=True)
    for folder in WANTS_TO_CLEAR:
        for link in (root / folder).glob("*"):
            link.unlink()
    for link in (root / "lib/systemd/system/sockets.target.wants").glob("*"):
        if "udev" in link.name or "initctl" in link.name:
            link.unlink()
    with (root / "etc/systemd/journald.conf").open("a") as conf:
        conf.write("ReadKMsg=no\n")
    chroot = ["chroot", str(root), "systemctl"]
    run(
        as_root(
            [*chroot, "enable", "kubelet.service", "containerd.service", "undo-mount-hacks.service"]
        ),
        step="systemctl enable",
        log=log,
    )
    run(as_root([*chroot, "mask", "systemd-binfmt.service"]), step="systemctl mask", log=log)
    (root / "etc/kubernetes/manifests").mkdir(parents=True, exist_ok=True)


def debootstrap(root: Path, log: Path) -> None:
    """A Debian bookworm root with the node's packages, signatures checked against the keyring.

    Shares microshop base-image's package cache and takes its lock while it writes there.
    """
    debs = cache_root() / "base" / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    if not KEYRING.is_file():
        raise BuildError(f"{KEYRING} is missing: run scripts/setup (debian-archive-keyring)")
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--cache-dir={debs}",
        f"--keyring={KEYRING}",
        "--force-check-gpg",
        f"--include={NODE_PACKAGES}",
        SUITE,
        str(root),
        MIRROR,
    ]
    with locked(cache_root() / "base" / ".lock"):
        run(as_root(argv), step="debootstrap (node base)", log=log)


def build_base(work: Path, log: Path, name: str) -> str:
    """The node base image (kind's base-image layout) called name, unless it exists."""
    if image_exists(name):
        return name
    root = work / "root"
    debootstrap(root, log)
    _copy_kind_files(root, log)
    _containerd_config(root)
    _runtime_spec(root, log)
    _install_binaries(root)
    _systemd_like_kind(root, log)
    for junk in ("debootstrap", "var/cache/apt", "var/lib/apt/lists"):
        shutil.rmtree(root / junk, ignore_errors=True)
    (root / "sbin" / "init").unlink(missing_ok=True)
    (root / "sbin" / "init").symlink_to("/usr/lib/systemd/systemd")
    tar = work / "root.tar"
    (work / "empty").mkdir()
    run(
        as_root(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tar), "."]),
        step="tar node root",
        log=log,
    )
    # docker import takes no STOPSIGNAL: import the root, then set the config in a build.
    rootfs = f"{name}-rootfs"
    run(["docker", "import", str(tar), rootfs], step="docker import (node root)", log=log)
    (work / "Dockerfile").write_text(
        f"FROM {rootfs}\n"
        "ENV container=docker\n"
        "# systemd exits on SIGRTMIN+3 (SIGTERM makes it re-execute)\n"
        "STOPSIGNAL SIGRTMIN+3\n"
        'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]\n'
    )
    run(
        [
            "docker",
            "build",
            "--quiet",
            "--network",
            "none",
            "-t",
            name,
            "-f",
            str(work / "Dockerfile"),
            str(work / "empty"),
        ],
        step="docker build (node base)",
        log=log,
    )
    run(["docker", "rmi", rootfs], step="docker rmi (node root tag)", log=log)
    return name
