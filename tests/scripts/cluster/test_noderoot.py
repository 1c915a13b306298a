"""The node base's layout steps on a folder: kind's files, containerd's config and spec, systemd.

The privileged commands (debootstrap, chroot, tar, docker) are recorded, not run.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Sequence
from pathlib import Path

import pytest

from microshop_ci.cluster import noderoot
from microshop_ci.core.gobuild import BuildError

CONTAINERD_CONFIG = """version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.7"
  restrict_oom_score_adj = false
"""


class Runs:
    def __init__(self, answers: dict[str, str] | None = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.answers = answers or {}

    def __call__(self, argv: Sequence[str], *, step: str, log: Path, **kwargs: object) -> str:
        self.calls.append(tuple(argv))
        return self.answers.get(step, "")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_kinds_files_are_copied_with_their_modes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tmp_path / "kind" / "images" / "base" / "files"
    for folder, name in (
        ("usr/local/bin", "entrypoint"),
        ("kind/bin", "mount-product-files.sh"),
        ("etc/containerd", "config.toml"),
    ):
        (files / folder).mkdir(parents=True, exist_ok=True)
        (files / folder / name).write_text(name)
    for _, target, _ in noderoot.KIND_COPIES:
        (files / target).mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(noderoot, "module_dir", lambda module, version, log: tmp_path / "kind")
    root = tmp_path / "root"
    noderoot._copy_kind_files(root, tmp_path / "log")
    assert _mode(root / "usr/local/bin/entrypoint") == 0o755
    assert _mode(root / "kind/bin/mount-product-files.sh") == 0o755
    assert _mode(root / "etc/containerd/config.toml") == 0o644
    assert (root / "etc/containerd/config.toml").read_text() == "config.toml"
    assert _mode(root / "kind") == 0o755
    assert not (root / "kind" / "bin" / "bin").exists()  # folders are not copied as files


def test_containerd_gets_kubeadms_pause_and_a_clamped_oom_score(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "etc" / "containerd" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(CONTAINERD_CONFIG)
    monkeypatch.setattr(noderoot, "pin", lambda key: {"PAUSE_VERSION": "3.10.2"}[key])
    noderoot._containerd_config(tmp_path)
    assert config.read_text() == (
        'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n'
        '  sandbox_image = "registry.k8s.io/pause:3.10.2"\n'
        "  restrict_oom_score_adj = true\n"
    )
    config.write_text(CONTAINERD_CONFIG.replace("  restrict_oom_score_adj = false\n", ""))
    with pytest.raises(BuildError) as caught:
        noderoot._containerd_config(tmp_path)
    assert str(caught.value) == (
        "kind's containerd config no longer sets 'restrict_oom_score_adj = false': review the node"
    )


def test_the_oci_spec_gets_kinds_hook_and_loses_rlimits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = {"process": {"args": ["sh"], "rlimits": [{"type": "RLIMIT_NOFILE"}]}}
    runs = Runs({"ctr oci spec": json.dumps(spec)})
    monkeypatch.setattr(noderoot, "run", runs)
    (tmp_path / "etc" / "containerd").mkdir(parents=True)
    noderoot._runtime_spec(tmp_path, tmp_path / "log")
    assert json.loads((tmp_path / "etc" / "containerd" / "cri-base.json").read_text()) == {
        "process": {"args": ["sh"]},
        "hooks": {"createContainer": [{"path": "/kind/bin/mount-product-files.sh"}]},
    }
    assert runs.calls[0][1:] == ("oci", "spec")


def test_systemd_is_trimmed_as_kind_trims_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = Runs()
    monkeypatch.setattr(noderoot, "run", runs)
    monkeypatch.setattr(noderoot, "as_root", list)
    root = tmp_path
    for folder in (*noderoot.WANTS_TO_CLEAR, "lib/systemd/system/sockets.target.wants"):
        (root / folder).mkdir(parents=True)
    (root / "lib/systemd/system/multi-user.target.wants/cron.service").write_text("")
    sockets = root / "lib/systemd/system/sockets.target.wants"
    for name in ("systemd-udevd-control.socket", "systemd-initctl.socket", "dbus.socket"):
        (sockets / name).write_text("")
    (root / "lib/systemd/system/sysinit.target.wants").mkdir(parents=True)
    (root / "lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service").write_text("")
    (root / "etc/systemd").mkdir(parents=True, exist_ok=True)
    (root / "etc/systemd/journald.conf").write_text("[Journal]\n")
    noderoot._systemd_like_kind(root, tmp_path / "log")
    assert not list((root / "lib/systemd/system/multi-user.target.wants").iterdir())
    assert [p.name for p in sockets.iterdir()] == ["dbus.socket"]
    assert not list((root / "lib/systemd/system/sysinit.target.wants").iterdir())
    assert (root / "etc/systemd/journald.conf").read_text() == "[Journal]\nReadKMsg=no\n"
    assert (root / "etc/kubernetes/manifests").is_dir()
    chroot = ("chroot", str(root), "systemctl")
    assert runs.calls == [
        (*chroot, "enable", "kubelet.service", "containerd.service", "undo-mount-hacks.service"),
        (*chroot, "mask", "systemd-binfmt.service"),
    ]


def test_debootstrap_checks_signatures_and_needs_the_keyring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = Runs()
    monkeypatch.setattr(noderoot, "run", runs)
    monkeypatch.setattr(noderoot, "as_root", list)
    monkeypatch.setattr(noderoot, "cache_root", lambda: tmp_path / "cache")
    monkeypatch.setattr(noderoot, "KEYRING", tmp_path / "missing.gpg")
    with pytest.raises(BuildError) as caught:
        noderoot.debootstrap(tmp_path / "root", tmp_path / "log")
    assert str(caught.value) == (
        f"{tmp_path}/missing.gpg is missing: run scripts/setup (debian-archive-keyring)"
    )
    assert runs.calls == []
    keyring = tmp_path / "debian-archive-keyring.gpg"
    keyring.write_text("keys")
    monkeypatch.setattr(noderoot, "KEYRING", keyring)
    noderoot.debootstrap(tmp_path / "root", tmp_path / "log")
    assert runs.calls == [
        (
            "debootstrap",
            "--variant=minbase",
            f"--cache-dir={tmp_path}/cache/base/debs",
            f"--keyring={keyring}",
            "--force-check-gpg",
            f"--include={noderoot.NODE_PACKAGES}",
            "bookworm",
            str(tmp_path / "root"),
            "http://deb.debian.org/debian",
        )
    ]


def test_the_base_image_is_imported_then_given_kinds_entrypoint_and_stop_signal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[str] = []
    for name in (
        "debootstrap",
        "_copy_kind_files",
        "_containerd_config",
        "_runtime_spec",
        "_install_binaries",
        "_systemd_like_kind",
    ):
        monkeypatch.setattr(noderoot, name, lambda *args, name=name: steps.append(name))
    runs = Runs()
    monkeypatch.setattr(noderoot, "run", runs)
    monkeypatch.setattr(noderoot, "as_root", list)
    monkeypatch.setattr(noderoot, "image_exists", lambda name: False)
    work = tmp_path / "work"
    (work / "root" / "sbin").mkdir(parents=True)
    (work / "root" / "debootstrap").mkdir()
    name = "microshop/kind-base:k1"
    assert noderoot.build_base(work, tmp_path / "log", name) == name
    assert steps == [
        "debootstrap",
        "_copy_kind_files",
        "_containerd_config",
        "_runtime_spec",
        "_install_binaries",
        "_systemd_like_kind",
    ]
    assert not (work / "root" / "debootstrap").exists()
    assert (work / "root" / "sbin" / "init").readlink() == Path("/usr/lib/systemd/systemd")
    assert (work / "Dockerfile").read_text() == (
        f"FROM {name}-rootfs\nENV container=docker\n"
        "# systemd exits on SIGRTMIN+3 (SIGTERM makes it re-execute)\n"
        "STOPSIGNAL SIGRTMIN+3\n"
        'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]\n'
    )
    assert runs.calls == [
        ("tar", "--numeric-owner", "-C", str(work / "root"), "-cf", str(work / "root.tar"), "."),
        ("docker", "import", str(work / "root.tar"), f"{name}-rootfs"),
        (
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
        ),
        ("docker", "rmi", f"{name}-rootfs"),
    ]
    monkeypatch.setattr(noderoot, "image_exists", lambda name: True)
    runs.calls.clear()
    assert noderoot.build_base(tmp_path / "other", tmp_path / "log", name) == name
    assert runs.calls == []
