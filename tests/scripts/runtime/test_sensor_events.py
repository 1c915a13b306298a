"""The sensor's lines become Falco-field events; the container comes from the cgroup in both the
v1 and the v2 forms; a line that is not an event is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from microshop_ci.core.errors import UsageError
from microshop_ci.runtime.sensor.bpftrace import memory_subsys_index, program_text
from microshop_ci.runtime.sensor.containers import ContainerInfo, Enricher
from microshop_ci.runtime.sensor.events import (
    EventLineError,
    EventReader,
    container_id_of_cgroup_file,
    container_id_of_leaf,
    open_flags,
)

ID = "4f1c2a9b8e7d" + "0123456789abcdef" * 3 + "0123"
V1 = f"""12:pids:/docker/{ID}
4:memory:/docker/{ID}
1:name=systemd:/docker/{ID}
0::/
"""
V2_CONTAINERD = f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1a2b.slice/cri-containerd-{ID}.scope\n"  # noqa: E501
V2_DOCKER = f"0::/system.slice/docker-{ID}.scope\n"
V1_KUBEPODS = f"4:memory:/kubepods/besteffort/pod1a2b/{ID}\n"
HOST = "4:memory:/user.slice\n0::/user.slice/user-0.slice/session-1.scope\n"


@pytest.mark.parametrize("text", [V1, V2_CONTAINERD, V2_DOCKER, V1_KUBEPODS])
def test_the_container_id_comes_from_either_cgroup_form(text: str) -> None:
    assert container_id_of_cgroup_file(text) == ID


def test_a_host_process_has_no_container_id() -> None:
    assert container_id_of_cgroup_file(HOST) is None
    assert container_id_of_leaf("831b20802ca7cb8f4610b096a54d0679") is None  # 32 digits


@pytest.mark.parametrize("leaf", [ID, f"docker-{ID}.scope", f"cri-containerd-{ID}.scope"])
def test_the_kernel_leaf_name_places_the_process(leaf: str) -> None:
    assert container_id_of_leaf(leaf) == ID


def proc_tree(root: Path, pid: int, cgroup: str, exe: str | None = None) -> Path:
    """A /proc stand-in with one process's cgroup file (and exe link)."""
    folder = root / str(pid)
    folder.mkdir(parents=True)
    (folder / "cgroup").write_text(cgroup)
    if exe:
        (folder / "exe").symlink_to(exe)
    return root


def test_an_exec_event_has_falco_fields_and_the_short_container_id(tmp_path: Path) -> None:
    reader = EventReader(tmp_path)
    event = reader.event(f"exec\t41\t40\t0\tsh\trunc\tcri-containerd-{ID}.scope\t/bin/sh\n")
    event.pop("evt.time")
    assert event == {
        "evt.type": "execve", "evt.dir": "<", "proc.pid": 41, "proc.ppid": 40, "user.uid": 0,
        "proc.name": "sh", "proc.pname": "runc", "proc.exepath": "/bin/sh",
        "container.id": ID[:12], "container.full_id": ID,
    }  # fmt: skip


def test_later_events_take_the_exec_path_and_fall_back_to_proc(tmp_path: Path) -> None:
    reader = EventReader(proc_tree(tmp_path, 52, V1_KUBEPODS, exe="/usr/bin/python3.11"))
    reader.event(f"exec\t41\t40\t0\tcat\tsh\t{ID}\t/bin/cat\n")
    read = reader.event("open\t41\t40\t0\tcat\tsh\t/\t0\t/var/run/secrets/token\n")
    assert (read["proc.exepath"], read["evt.is_open_read"], read["evt.is_open_write"]) == (
        "/bin/cat", True, False,
    )  # fmt: skip
    connect = reader.event("connect\t52\t1\t65532\tpython3\tcontainerd-shim\t/\t443\t203.0.113.7\n")
    assert connect["container.id"] == ID[:12]  # from /proc/52/cgroup: the leaf had no id
    assert (connect["proc.exepath"], connect["fd.sip"], connect["fd.sport"]) == (
        "/usr/bin/python3.11", "203.0.113.7", 443,
    )  # fmt: skip
    gone = reader.event("syscall\t99\t1\t0\tx\ty\t/\ttracepoint:syscalls:sys_enter_ptrace\n")
    assert (gone["evt.type"], gone["container.id"], gone["container.full_id"]) == (
        "ptrace", "host", None,
    )  # fmt: skip


def test_a_forked_child_runs_its_parents_executable_until_it_execs(tmp_path: Path) -> None:
    reader = EventReader(tmp_path)
    reader.event(f"exec\t41\t40\t65532\tpython3\trunc\t{ID}\t/usr/bin/python3\n")
    reader.event(f"exec\t60\t1\t0\tid\tsh\t{ID}\t/bin/id\n")
    assert reader.event("fork\t41\t42\n") is None
    assert reader.event("fork\t1\t60\n") is None  # pid 60 reused by a child of an unknown
    worker = reader.event(f"connect\t42\t41\t65532\tpython3\tpython3\t{ID}\t443\t10.0.0.9\n")
    assert worker is not None
    assert worker["proc.exepath"] == "/usr/bin/python3"
    reused = reader.event(f"open\t60\t1\t0\tx\ty\t{ID}\t1\t/etc/x\n")
    assert reused is not None
    assert reused["proc.exepath"] is None  # neither remembered nor in /proc
    with pytest.raises(EventLineError):
        reader.event("fork\tx\t1\n")


def test_a_path_keeps_its_tab(tmp_path: Path) -> None:
    event = EventReader(tmp_path).event("open\t1\t0\t0\tsh\tx\t/\t577\t/etc/a\tb\n")
    assert event["fd.name"] == "/etc/a\tb"


@pytest.mark.parametrize(
    "line", ["", "exec\t1\t0\n", "fork\t1\t0\t0\ta\tb\tc\td\n", "exec\tx\t0\t0\ta\tb\tc\t/bin/a\n"]
)
def test_a_line_that_is_not_an_event_is_refused(tmp_path: Path, line: str) -> None:
    with pytest.raises(EventLineError, match=r"^not a sensor event: "):
        EventReader(tmp_path).event(line)


@pytest.mark.parametrize(
    ("flags", "read", "write"),
    [(0, True, False), (0o1, False, True), (0o2, True, True), (0o100, True, True),
     (0o1000 | 0o1, False, True), (0o2000000, True, False)],
)  # fmt: skip
def test_open_flags(flags: int, read: bool, write: bool) -> None:
    assert open_flags(flags) == {"evt.is_open_read": read, "evt.is_open_write": write}


class Engine:
    """A stand-in engine that knows one container, after a number of misses."""

    def __init__(self, misses: int) -> None:
        self.misses = misses
        self.asked = 0

    def describe(self, container_id: str) -> ContainerInfo:
        self.asked += 1
        if self.asked <= self.misses:
            return ContainerInfo()
        return ContainerInfo("app", "api-service", "sha256:ab", "api-1", "microshop")


def test_the_engine_is_asked_once_per_container_and_again_only_after_a_pause() -> None:
    now = [0.0]
    engine = Engine(misses=1)
    enricher = Enricher(engine, clock=lambda: now[0])
    event = {"container.id": ID[:12], "container.full_id": ID}
    assert enricher.enrich(dict(event))["k8s.pod.name"] is None
    assert enricher.enrich(dict(event))["k8s.pod.name"] is None  # not asked again yet
    now[0] = 6.0
    assert enricher.enrich(dict(event))["k8s.ns.name"] == "microshop"
    enricher.enrich(dict(event))
    assert engine.asked == 2
    assert enricher.enrich({"container.id": "host", "container.full_id": None}) == {
        "container.id": "host", "container.full_id": None,
    }  # fmt: skip


def test_the_memory_controller_index_follows_proc_cgroups(tmp_path: Path) -> None:
    cgroups = tmp_path / "cgroups"
    cgroups.write_text("#subsys_name\thierarchy\nmemory\t0\t1\t1\n")
    assert memory_subsys_index(cgroups) == 0
    cgroups.write_text("#subsys_name\nblkio\t7\t1\t1\n")
    with pytest.raises(UsageError, match="has no memory cgroup controller"):
        memory_subsys_index(cgroups)


def test_the_program_gets_the_index_written_in() -> None:
    text = program_text(4)
    assert "MEMORY_SUBSYS" not in text
    assert text.count("subsys[4]") == 5
