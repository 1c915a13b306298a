"""A second Docker Engine, isolated from this machine's: dockerd 29 on the containerd image store.

Everything it owns lives in one short temporary folder (unix sockets allow 108 bytes): its own
containerd (the pinned v2 the cluster code builds, never a system one: dockerd would otherwise
adopt /run/containerd/containerd.sock), data-root, exec-root, pidfile, unix socket, cgroup
parent and daemon.json. dockerd runs in a network namespace of its own (`unshare --net`, only
loopback, brought up after start): with `--bridge=none` dockerd deletes any `docker0` it sees
(moby daemon_unix.go, removeDefaultBridgeInterface), which in the host's namespace is this
machine's engine's bridge. No iptables, no IP forwarding either. It is reached through its unix
socket; whatever must talk to it over the network (a registry it pushes to) runs in its namespace
(`Engine.in_netns`). Where the machine's capability bounding set lacks CAP_SYS_RESOURCE, runc runs
behind the project's runtime wrapper, as on the first engine. Start-up is polled with a bound;
stopping removes the folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.bootstrap.docker_runtime import RUNTIME_NAME, install_wrapper
from microshop_ci.bootstrap.runtime_wrapper import missing_capabilities
from microshop_ci.cluster import components
from microshop_ci.core.gobuild import build, cache_root

START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


class EngineError(Exception):
    """The second engine did not start: the message names the log to read."""


@dataclass(frozen=True)
class Engine:
    """A running second engine: DOCKER_HOST for it, its folder, its CLI, `docker info`."""

    host: str
    root: Path
    info: dict[str, object]
    log: Path
    docker: Path  # the docker CLI of the same line
    pid: int  # dockerd's, whose network namespace is the engine's

    def in_netns(self, *argv: str | Path) -> list[str]:
        """A command line that runs argv in the engine's network namespace."""
        return ["nsenter", "--target", str(self.pid), "--net", "--", *map(str, argv)]

    def env(self) -> dict[str, str]:
        """This process's environment with DOCKER_HOST at the engine and its CLI first on PATH."""
        path = f"{self.docker.parent}:{os.environ['PATH']}"
        return {**os.environ, "DOCKER_HOST": self.host, "PATH": path}


def binaries() -> tuple[Path, Path, Path, Path]:
    """dockerd, the docker CLI, containerd's and runc's bin folders, built once into the cache."""
    moby = build(components.MOBY)
    cli = build(components.DOCKER_CLI)
    return moby / "dockerd", cli / "docker", build(components.CONTAINERD), build(components.RUNC)


def containerd_config(root: Path) -> str:
    """containerd's own config (v3 schema): everything under root; no plugin that uses a host
    path (CRI, NRI's /var/run/nri socket, /opt/containerd). containerd 2.3 always imports
    /etc/containerd/conf.d/*.toml (an `imports` list only adds to it): read-only, absent here."""
    return "\n".join([
        "version = 3",
        f'root = "{root / "containerd" / "root"}"',
        f'state = "{root / "containerd" / "state"}"',
        'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime",'
        ' "io.containerd.cri.v1.images", "io.containerd.nri.v1.nri",'  # NRI: /var/run/nri
        ' "io.containerd.internal.v1.opt", "io.containerd.image-verifier.v1.bindir"]',  # /opt
        "[grpc]",
        f'  address = "{root / "containerd.sock"}"',
        "[ttrpc]",
        f'  address = "{root / "containerd.sock.ttrpc"}"',
        "",
    ])  # fmt: skip


def daemon_config(wrapper: Path | None) -> dict[str, object]:
    """dockerd's daemon.json: the containerd image store, and the runtime wrapper if needed."""
    config: dict[str, object] = {"features": {"containerd-snapshotter": True}}
    if wrapper is not None:
        config["runtimes"] = {RUNTIME_NAME: {"path": str(wrapper)}}
        config["default-runtime"] = RUNTIME_NAME
    return config


def cgroup_parent(root: Path) -> str:
    """The engine's own cgroup parent (its containers' cgroups go below it)."""
    return f"microshop-{root.name}"


def dockerd_args(dockerd: Path, root: Path) -> list[str]:
    """The isolated engine's command line."""
    return [
        str(dockerd),
        "--config-file", str(root / "daemon.json"),
        "--data-root", str(root / "data"),
        "--exec-root", str(root / "exec"),
        "--pidfile", str(root / "dockerd.pid"),
        "--host", f"unix://{root / 'docker.sock'}",
        "--containerd", str(root / "containerd.sock"),
        "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--bridge=none",
        "--cgroup-parent", f"/{cgroup_parent(root)}",
    ]  # fmt: skip


def _wait(what: str, ready: object, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EngineError(f"{what} exited with {process.returncode} (log: {log})")
        if callable(ready) and ready():
            return
        time.sleep(0.5)
    raise EngineError(f"{what} did not answer within {START_TIMEOUT:.0f} s (log: {log})")


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def _unmount_under(root: Path) -> None:
    """Lazily unmount anything a crashed engine left mounted under root (deepest first)."""
    mounts = [
        line.split()[1]
        for line in Path("/proc/self/mounts").read_text().splitlines()
        if line.split()[1].startswith(f"{root}/")
    ]
    for mount in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)


def _remove_cgroups(parent: str) -> None:
    """Remove the engine's (by now empty) cgroup parent from every hierarchy."""
    base = Path("/sys/fs/cgroup")
    for folder in [*base.glob(f"*/{parent}"), base / parent]:
        for child in sorted(folder.glob("**/"), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                child.rmdir()


def docker_info(docker: Path, host: str) -> dict[str, object] | None:
    """`docker info` of the engine at host, or None while it does not answer."""
    result = subprocess.run(
        [str(docker), "--host", host, "info", "--format", "{{json .}}"],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    if result.returncode != 0:
        return None
    info: dict[str, object] = json.loads(result.stdout)
    return info


@contextlib.contextmanager
def second_engine() -> Iterator[Engine]:
    """Start containerd + dockerd 29 in a temporary folder; stop both and remove it after."""
    dockerd, docker, containerd_bin, runc_bin = binaries()
    root = Path(tempfile.mkdtemp(prefix="d29-", dir="/tmp"))  # short: socket paths
    log = root / "engine.log"
    env = {
        **os.environ,
        "PATH": f"{runc_bin}:{containerd_bin}:{os.environ['PATH']}",
        "MICROSHOP_REAL_RUNC": str(runc_bin / "runc"),
    }
    env.pop("DOCKER_HOST", None)
    wrapper = None
    if missing_capabilities(Path("/proc/self/status").read_text()):
        wrapper = install_wrapper(cache_root())
    (root / "containerd.toml").write_text(containerd_config(root))
    (root / "daemon.json").write_text(json.dumps(daemon_config(wrapper), indent=2))
    host = f"unix://{root / 'docker.sock'}"
    containerd = dockerd_process = None
    try:
        with log.open("ab") as out:
            containerd = subprocess.Popen(  # the pinned containerd
                [str(containerd_bin / "containerd"), "--config", str(root / "containerd.toml")],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True,
            )  # fmt: skip
            _wait("containerd", (root / "containerd.sock").exists, containerd, log)
            dockerd_process = subprocess.Popen(  # the pinned dockerd, in a new netns
                ["unshare", "--net", "--", *dockerd_args(dockerd, root)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True,
            )  # fmt: skip
        _wait("dockerd", lambda: docker_info(docker, host) is not None, dockerd_process, log)
        info = docker_info(docker, host)
        assert info is not None
        # unshare execs dockerd: the pid is dockerd's, and so is the namespace (even if the
        # dockerd found is itself a wrapper that unshares once more)
        engine = Engine(host, root, info, log, docker, dockerd_process.pid)
        netns = os.readlink(f"/proc/{engine.pid}/ns/net")
        if netns == os.readlink("/proc/self/ns/net"):
            raise EngineError(f"dockerd runs in this machine's network namespace ({netns})")
        up = subprocess.run(
            engine.in_netns("ip", "link", "set", "lo", "up"),
            capture_output=True,
            text=True,
            check=False,
        )
        if up.returncode != 0:
            raise EngineError(f"loopback in the engine's namespace: {up.stderr.strip()}")
        yield engine
    finally:
        _stop(dockerd_process)
        _stop(containerd)
        _unmount_under(root)
        _remove_cgroups(cgroup_parent(root))
        keep = os.environ.get("MICROSHOP_KEEP_ENGINE_LOG")
        if keep:
            shutil.copy(log, keep)
        shutil.rmtree(root, ignore_errors=True)
