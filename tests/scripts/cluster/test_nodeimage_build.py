"""The node image's Dockerfiles, the cached build short-cut and the pruning of older keys.

docker is a stand-in on PATH (it lists images and records what it is asked to remove), and the
command runner is recorded: what is tested is what we ask Docker for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from microshop_ci.cluster import nodeimage
from microshop_ci.cluster.nodeimage import ImageSpec


class Runs:
    """Records run(argv, step=..., log=...) calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str], *, step: str, log: Path, **kwargs: object) -> str:
        self.calls.append(tuple(argv))
        return ""


def test_each_image_gets_a_dockerfile_from_its_spec_and_its_extra_tags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = Runs()
    monkeypatch.setattr(nodeimage, "run", runs)
    binary = tmp_path / "kube-router"
    binary.write_text("elf")
    built = tmp_path / "pause"
    built.write_text("pause")
    specs = [
        ImageSpec(
            "localhost/microshop/kube-router:v2",
            (("/usr/local/bin/kube-router", binary),),
            entrypoint=("/usr/local/bin/kube-router",),
            on_node_root=True,
        ),
        ImageSpec(
            "registry.k8s.io/pause:3.10",
            (("/pause", lambda: built),),
            entrypoint=("/pause",),
            user="65535:65535",
            extra_tags=("registry.k8s.io/pause:latest",),
        ),
    ]
    work = tmp_path / "work"
    names = nodeimage.build_images(specs, "microshop/kind-base:k1", work, tmp_path / "log")
    assert names == [
        "localhost/microshop/kube-router:v2",
        "registry.k8s.io/pause:3.10",
        "registry.k8s.io/pause:latest",
    ]
    path = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert (work / "image-0" / "Dockerfile").read_text() == (
        "FROM microshop/kind-base:k1\n"
        "COPY f0 /usr/local/bin/kube-router\n"
        "ENTRYPOINT []\n"
        f"{path}\n"
        'ENTRYPOINT ["/usr/local/bin/kube-router"]\n'
    )
    assert (work / "image-1" / "Dockerfile").read_text() == (
        f'FROM scratch\nCOPY f0 /pause\n{path}\nENTRYPOINT ["/pause"]\nUSER 65535:65535\n'
    )
    assert (work / "image-1" / "f0").read_text() == "pause"
    assert (work / "image-1" / "f0").stat().st_mode & 0o777 == 0o755
    assert runs.calls == [
        (
            "docker",
            "build",
            "--quiet",
            "--network",
            "none",
            "-t",
            "localhost/microshop/kube-router:v2",
            str(work / "image-0"),
        ),
        (
            "docker",
            "build",
            "--quiet",
            "--network",
            "none",
            "-t",
            "registry.k8s.io/pause:3.10",
            str(work / "image-1"),
        ),
        ("docker", "tag", "registry.k8s.io/pause:3.10", "registry.k8s.io/pause:latest"),
    ]


@pytest.fixture
def docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A docker on PATH that lists a fixed set of images and logs every call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "docker.log"
    listing = "\n".join(
        [
            "microshop/kind-node:v1.36.1-aaaa",
            "microshop/kind-node:v1.36.1-bbbb",
            "microshop/kind-base:aaaa",
            "microshop/kind-base:bbbb",
            "localhost/microshop/node-shell:aaaa",
            "registry.k8s.io/pause:3.10",
            "microshop/api-service:dev",
        ]
    )
    (bin_dir / "docker").write_text(
        f'#!/bin/sh\necho "$*" >> {log}\n'
        f'if [ "$1" = images ]; then printf "%s\\n" "{listing}"; fi\n'
        f'if [ "$1 $2" = "image inspect" ] && [ "$3" = "microshop/kind-node:cached" ]; '
        "then exit 0; fi\n"
        'if [ "$1 $2" = "image inspect" ]; then exit 1; fi\n'
    )
    (bin_dir / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return log


def test_pruning_removes_only_other_keys_of_our_node_images(docker: Path) -> None:
    nodeimage.prune_stale(
        keep=("microshop/kind-node:v1.36.1-bbbb", "microshop/kind-base:bbbb", "x/node-shell:bbbb")
    )
    assert docker.read_text().splitlines() == [
        "images --format {{.Repository}}:{{.Tag}}",
        "rmi microshop/kind-node:v1.36.1-aaaa microshop/kind-base:aaaa "
        "localhost/microshop/node-shell:aaaa",
    ]


def test_nothing_is_removed_when_every_image_is_kept(docker: Path) -> None:
    nodeimage.prune_stale(
        keep=(
            "microshop/kind-node:v1.36.1-aaaa",
            "microshop/kind-node:v1.36.1-bbbb",
            "microshop/kind-base:aaaa",
            "microshop/kind-base:bbbb",
            "localhost/microshop/node-shell:aaaa",
        )
    )
    assert docker.read_text().splitlines() == ["images --format {{.Repository}}:{{.Tag}}"]


def test_a_cached_node_image_is_returned_without_building(
    docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_build(component: object) -> None:
        raise AssertionError("nothing is built when the node image exists")

    monkeypatch.setattr(nodeimage, "node_image_name", lambda: "microshop/kind-node:cached")
    monkeypatch.setattr(nodeimage, "build", no_build)
    assert nodeimage.build_node_image() == "microshop/kind-node:cached"
    assert docker.read_text().splitlines() == ["image inspect microshop/kind-node:cached"]


def test_the_pause_binary_is_compiled_static_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = Runs()

    def gcc(argv: Sequence[str], *, step: str, log: Path, **kwargs: object) -> str:
        runs(argv, step=step, log=log)
        Path(argv[argv.index("-o") + 1]).write_text("static")
        return ""

    monkeypatch.setattr(nodeimage, "run", gcc)
    monkeypatch.setattr(nodeimage, "cache_root", lambda: tmp_path / "cache")
    monkeypatch.setattr(nodeimage, "module_dir", lambda module, version, log: tmp_path / "k8s")
    monkeypatch.setattr(nodeimage, "pin", lambda key: {"PAUSE_VERSION": "3.10.2"}.get(key, "v1"))
    out = nodeimage.pause_binary()
    assert out == tmp_path / "cache" / "cluster" / "pause" / "3.10.2" / "pause"
    assert out.read_text() == "static"
    assert runs.calls == [
        (
            "gcc",
            "-Os",
            "-Wall",
            "-Werror",
            "-static",
            "-DVERSION=v3.10.2",
            "-o",
            f"{out}.partial",
            str(tmp_path / "k8s" / "build" / "pause" / "linux" / "pause.c"),
        )
    ]
    assert nodeimage.pause_binary() == out
    assert len(runs.calls) == 1


def test_the_node_image_is_assembled_in_a_build_container_and_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docker: Path
) -> None:
    calls: list[tuple[str, ...]] = []
    stdin: dict[str, bytes] = {}
    ctr_tries = iter([True, False])

    def run(argv: Sequence[str], *, step: str, log: Path, **kwargs: object) -> str:
        calls.append(tuple(argv))
        if argv[-2:] == ["ctr", "version"] and next(ctr_tries):
            raise nodeimage.BuildError("ctr version failed")
        if isinstance(kwargs.get("stdin"), bytes):
            stdin[argv[-1]] = kwargs["stdin"]  # type: ignore[assignment]
        return ""

    monkeypatch.setattr(nodeimage, "run", run)
    monkeypatch.setattr(nodeimage, "node_image_name", lambda: "microshop/kind-node:v1-k")
    monkeypatch.setattr(nodeimage, "content_key", lambda: "k")
    monkeypatch.setattr(nodeimage, "manifest", lambda name: f"manifest {name}")
    monkeypatch.setattr(nodeimage, "pin", lambda key: "v1.36.1")
    monkeypatch.setattr(nodeimage.time, "sleep", lambda seconds: None)
    name = nodeimage.assemble("microshop/kind-base:k", ["a:1", "b:2"], tmp_path, tmp_path / "log")
    assert name == "microshop/kind-node:v1-k"
    box = "microshop-node-build-k"
    node = ("docker", "exec", box)
    assert calls[:2] == [
        ("docker", "rm", "-f", box),
        ("docker", "run", "-d", "--privileged", "--name", box, "--entrypoint", "sleep",
         "microshop/kind-base:k", "infinity"),
    ]  # fmt: skip
    assert [c[-1] for c in calls[2:5]] == [
        f"{box}:/usr/bin/{b}" for b in ("kubeadm", "kubelet", "kubectl")
    ]
    assert stdin == {
        "/kind/version": b"v1.36.1",
        "/kind/manifests/default-cni.yaml": b"manifest default-cni.yaml",
        "/kind/manifests/default-storage.yaml": b"manifest default-storage.yaml",
    }
    assert ("docker", "save", "-o", str(tmp_path / "images.tar"), "a:1", "b:2") in calls
    assert calls.count((*node, "ctr", "version")) == 2  # retried until containerd answers
    assert (*node, "ctr", "--namespace=k8s.io", "images", "import", "--all-platforms",
            "--label=io.cri-containerd.pinned=pinned", "--no-unpack", "--digests",
            "/images.tar") in calls  # fmt: skip
    assert calls[-1] == (
        "docker", "commit",
        "--change", 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]',
        "--change", 'ENV HTTP_PROXY="" HTTPS_PROXY="" NO_PROXY=""',
        box, "microshop/kind-node:v1-k",
    )  # fmt: skip
    assert docker.read_text().splitlines() == [f"rm -f -v {box}"]  # the build box always goes
