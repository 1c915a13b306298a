"""A kind node image built here: kind's base-image layout on Debian bookworm, pinned binaries.

kind's published node image cannot be pulled on the build machines, and `kind build node-image`
fetches etcd, CoreDNS, pause, kindnetd and local-path from registries. This module does the same
few things over images built here from source: a Debian bookworm root (debootstrap) with kind's
base-image files (read from the pinned kind module), containerd, runc, crictl and the CNI plugins;
then, in a container of it, kubeadm/kubelet/kubectl, /kind/version, the CNI and storage manifests
and every image the cluster runs, imported into containerd as pinned; then one `docker commit`.
The result is tagged by a content key, so a second run reuses it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.cluster import components as c
from microshop_ci.cluster import noderoot
from microshop_ci.cluster.pins import pin
from microshop_ci.cluster.run import as_root, image_exists, run
from microshop_ci.core.gobuild import (
    REPO_ROOT,
    BuildError,
    build,
    cache_root,
    module_dir,
)

SOURCES = REPO_ROOT / "scripts" / "cluster-src"
LOCAL = "localhost/microshop"  # our names for add-on images that have no upstream name here


@dataclass(frozen=True)
class ImageSpec:
    """One image the node carries: a name, a base (scratch or the node's root) and its files."""

    name: str
    # (path in the image, file on this machine, or what builds it when the image is built)
    files: tuple[tuple[str, Path | Callable[[], Path]], ...]
    entrypoint: tuple[str, ...] = ()
    user: str = ""
    on_node_root: bool = False  # FROM the node base (iptables, ipset, a shell), not scratch
    extra_tags: tuple[str, ...] = ()


def images_key_inputs() -> str:
    """What the node image depends on besides this module's files: every pinned version."""
    keys = [comp.pin_key for comp in c.ALL] + ["KIND_VERSION", "PAUSE_VERSION"]
    return " ".join(f"{k}={pin(k)}" for k in sorted(keys))


def content_key() -> str:
    """16 hex digits over the pins, the code that lays out the node and what it installs."""
    digest = hashlib.sha256(images_key_inputs().encode())
    here = Path(__file__).parent
    code = [here / name for name in ("noderoot.py", "nodeimage.py", "components.py")]
    for path in sorted([*code, *SOURCES.rglob("*")], key=str):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    digest.update(f"{noderoot.SUITE} {noderoot.MIRROR} {noderoot.NODE_PACKAGES}".encode())
    return digest.hexdigest()[:16]


def node_image_name() -> str:
    """The node image's tag: microshop/kind-node:KUBERNETES_VERSION-KEY."""
    return f"microshop/kind-node:{pin('KUBERNETES_VERSION')}-{content_key()}"


def base_image_name() -> str:
    """The intermediate base (no Kubernetes, no images) of the node image."""
    return f"microshop/kind-base:{noderoot.SUITE}-{content_key()}"


def addon_image(name: str, version_key: str) -> str:
    """The name under which an add-on image built here is imported into the node."""
    return f"{LOCAL}/{name}:{pin(version_key)}"


def helper_image() -> str:
    """The node's own Debian root as an image: local-path helper pods need a shell."""
    return f"{LOCAL}/node-shell:{content_key()}"


def image_specs() -> list[ImageSpec]:
    """Every image the node carries, from the built components."""
    k8s = c.KUBERNETES.out_dir
    version = pin("KUBERNETES_VERSION")
    pause_version = pin("PAUSE_VERSION")
    specs = [
        ImageSpec(f"registry.k8s.io/{cmd}:{version}", ((f"/usr/local/bin/{cmd}", k8s / cmd),))
        for cmd in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    ]
    specs += [
        ImageSpec(
            f"registry.k8s.io/kube-proxy:{version}",
            (("/usr/local/bin/kube-proxy", k8s / "kube-proxy"),),
            on_node_root=True,
        ),
        ImageSpec(
            f"registry.k8s.io/etcd:{pin('ETCD_VERSION').removeprefix('v')}-0",
            (("/usr/local/bin/etcd", c.ETCD.binary("etcd")),),
        ),
        # CoreDNS binds port 53: upstream's image sets a file capability for its nonroot user,
        # which a scratch image built without a shell cannot; kubeadm's Deployment drops every
        # capability but NET_BIND_SERVICE, so it runs as root here (a local test cluster only).
        ImageSpec(
            f"registry.k8s.io/coredns/coredns:{pin('COREDNS_VERSION')}",
            (("/coredns", c.COREDNS.binary("coredns")),),
            entrypoint=("/coredns",),
        ),
        ImageSpec(
            f"registry.k8s.io/pause:{pause_version}",
            (("/pause", pause_binary),),
            entrypoint=("/pause",),
            user="65535:65535",
        ),
        ImageSpec(
            addon_image("kube-router", "KUBE_ROUTER_VERSION"),
            (("/usr/local/bin/kube-router", c.KUBE_ROUTER.binary("kube-router")),),
            on_node_root=True,
        ),
        ImageSpec(
            addon_image("local-path-provisioner", "LOCAL_PATH_PROVISIONER_VERSION"),
            (
                (
                    "/local-path-provisioner",
                    c.LOCAL_PATH_PROVISIONER.binary("local-path-provisioner"),
                ),
            ),
            entrypoint=("/local-path-provisioner",),
        ),
        ImageSpec(helper_image(), (), on_node_root=True),
    ]
    return specs


def pause_binary() -> Path:
    """pause from the Kubernetes module's build/pause, compiled static with gcc (as upstream)."""
    version = pin("PAUSE_VERSION")
    out = cache_root() / "cluster" / "pause" / version / "pause"
    if not out.exists():
        log = out.with_name("build.log")
        out.parent.mkdir(parents=True, exist_ok=True)
        source = module_dir("k8s.io/kubernetes", pin("KUBERNETES_VERSION"), log)
        run(
            [
                "gcc",
                "-Os",
                "-Wall",
                "-Werror",
                "-static",
                f"-DVERSION=v{version}",
                "-o",
                f"{out}.partial",
                str(source / "build" / "pause" / "linux" / "pause.c"),
            ],
            step="gcc pause.c",
            log=log,
        )
        Path(f"{out}.partial").rename(out)
    return out


def build_images(specs: list[ImageSpec], base: str, work: Path, log: Path) -> list[str]:
    """docker build each image from its files; return every name (with extra tags)."""
    names = []
    for index, spec in enumerate(specs):
        context = work / f"image-{index}"
        context.mkdir(parents=True)
        lines = [f"FROM {base}" if spec.on_node_root else "FROM scratch"]
        for number, (target, source) in enumerate(spec.files):
            shutil.copyfile(source() if callable(source) else source, context / f"f{number}")
            (context / f"f{number}").chmod(0o755)
            lines.append(f"COPY f{number} {target}")
        if spec.on_node_root:
            lines.append("ENTRYPOINT []")
        lines.append("ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        if spec.entrypoint:
            lines.append(f"ENTRYPOINT {json.dumps(list(spec.entrypoint))}")
        if spec.user:
            lines.append(f"USER {spec.user}")
        (context / "Dockerfile").write_text("\n".join(lines) + "\n")
        run(
            ["docker", "build", "--quiet", "--network", "none", "-t", spec.name, str(context)],
            step=f"docker build {spec.name}",
            log=log,
        )
        names.append(spec.name)
        for tag in spec.extra_tags:
            run(["docker", "tag", spec.name, tag], step=f"docker tag {tag}", log=log)
            names.append(tag)
    return names


def manifest(name: str) -> str:
    text = (SOURCES / "manifests" / name).read_text()
    return (
        text.replace("__KUBE_ROUTER_IMAGE__", addon_image("kube-router", "KUBE_ROUTER_VERSION"))
        .replace(
            "__LOCAL_PATH_IMAGE__",
            addon_image("local-path-provisioner", "LOCAL_PATH_PROVISIONER_VERSION"),
        )
        .replace("__HELPER_IMAGE__", helper_image())
    )


def _in_node(container: str, *argv: str) -> list[str]:
    return ["docker", "exec", container, *argv]


def assemble(base: str, images: list[str], work: Path, log: Path) -> str:
    """Start the base, add Kubernetes, manifests and images, commit the node image."""
    name = node_image_name()
    container = f"microshop-node-build-{content_key()}"
    run(["docker", "rm", "-f", container], step="docker rm", log=log)
    run(
        [
            "docker",
            "run",
            "-d",
            "--privileged",
            "--name",
            container,
            "--entrypoint",
            "sleep",
            base,
            "infinity",
        ],
        step="docker run (node build)",
        log=log,
    )
    try:
        for cmd in ("kubeadm", "kubelet", "kubectl"):
            run(
                ["docker", "cp", str(c.KUBERNETES.binary(cmd)), f"{container}:/usr/bin/{cmd}"],
                step=f"docker cp {cmd}",
                log=log,
            )
        files = {
            "/kind/version": pin("KUBERNETES_VERSION"),
            "/kind/manifests/default-cni.yaml": manifest("default-cni.yaml"),
            "/kind/manifests/default-storage.yaml": manifest("default-storage.yaml"),
        }
        for path, text in files.items():
            run(_in_node(container, "mkdir", "-p", str(Path(path).parent)), step="mkdir", log=log)
            run(
                ["docker", "exec", "-i", container, "cp", "/dev/stdin", path],
                stdin=text.encode(),
                step=f"write {path}",
                log=log,
            )
        archive = work / "images.tar"
        run(["docker", "save", "-o", str(archive), *images], step="docker save", log=log)
        run(
            _in_node(
                container, "bash", "-c", "nohup containerd >/var/log/containerd-build.log 2>&1 &"
            ),
            step="start containerd in the build container",
            log=log,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                run(_in_node(container, "ctr", "version"), step="ctr version", log=log)
                break
            except BuildError:
                if time.monotonic() > deadline:
                    raise BuildError(
                        f"containerd did not start in the build container (log: {log})"
                    ) from None
                time.sleep(1)
        run(
            ["docker", "cp", str(archive), f"{container}:/images.tar"],
            step="docker cp images",
            log=log,
        )
        import_argv = [
            "ctr",
            "--namespace=k8s.io",
            "images",
            "import",
            "--all-platforms",
            "--label=io.cri-containerd.pinned=pinned",
            "--no-unpack",
            "--digests",
            "/images.tar",
        ]
        run(_in_node(container, *import_argv), step="ctr images import", log=log)
        run(_in_node(container, "rm", "/images.tar"), step="rm images.tar", log=log)
        run(_in_node(container, "pkill", "containerd"), step="stop containerd", log=log)
        time.sleep(2)
        run(_in_node(container, "rm", "-f", "/var/log/containerd-build.log"), step="rm", log=log)
        run(
            [
                "docker",
                "commit",
                "--change",
                'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]',
                "--change",
                'ENV HTTP_PROXY="" HTTPS_PROXY="" NO_PROXY=""',
                container,
                name,
            ],
            step="docker commit (node image)",
            log=log,
        )
    finally:
        subprocess.run(  # nosec B603, B607 -- fixed docker argv
            ["docker", "rm", "-f", "-v", container], capture_output=True, check=False
        )
    return name


def build_node_image() -> str:
    """Build every component and the node image unless cached; return the image's name."""
    name = node_image_name()
    if image_exists(name):
        return name
    for component in c.ALL:
        build(component)
    log = cache_root() / "cluster" / "node-image.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    with tempfile.TemporaryDirectory(prefix="kind-node-", dir=cache_root() / "cluster") as tmp:
        work = Path(tmp)
        try:
            base = noderoot.build_base(work, log, base_image_name())
            images = build_images(image_specs(), base, work, log)
            built = assemble(base, images, work, log)
            prune_stale(keep=(built, base, helper_image()))
            return built
        finally:
            if (work / "root").exists():
                run(as_root(["rm", "-rf", str(work / "root")]), step="clean up", log=log)


KEYED_REPOSITORIES = ("microshop/kind-node", "microshop/kind-base", f"{LOCAL}/node-shell")


def prune_stale(keep: tuple[str, ...]) -> None:
    """Remove the images of other content keys (a node image is 2 GB); keep the current ones."""
    listed = subprocess.run(  # nosec B603, B607 -- fixed docker argv
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    stale = [
        ref for ref in listed if ref.rsplit(":", 1)[0] in KEYED_REPOSITORIES and ref not in keep
    ]
    if stale:
        subprocess.run(  # nosec B603, B607 -- docker argv of our own image names
            ["docker", "rmi", *stale], capture_output=True, check=False
        )
