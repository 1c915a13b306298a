"""bpftrace's lines (sensor/program.bt) as JSON events keyed by Falco's field names.

The container id comes from the cgroup: the kernel reports the leaf name of the process's memory
cgroup with each event (so a process that has already exited is still placed), and
/proc/PID/cgroup, in its cgroup v1 (`4:memory:/docker/ID`) or v2 (`0::/.../cri-containerd-ID.scope`)
form, places a process whose leaf name holds no id. A process in no container is `host`, as Falco
writes it.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from microshop_ci.core.errors import MicroshopError

# docker's cgroupfs (`ID`), systemd (`docker-ID.scope`), containerd (`cri-containerd-ID.scope`),
# CRI-O (`crio-ID.scope`): the id is 64 hexadecimal digits at the end of one path segment.
LEAF_ID = re.compile(r"(?:^|[-:])([0-9a-f]{64})(?:\.scope)?$")
HOST = "host"
SHORT_ID = 12
O_ACCMODE, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC = 0o3, 0o1, 0o2, 0o100, 0o1000
SYSCALL_PROBE = "tracepoint:syscalls:sys_enter_"
KNOWN_PIDS = 65536  # executables remembered per pid (from exec events), oldest dropped first
COMMON = 7  # kind, pid, ppid, uid, comm, parent comm, cgroup leaf
EXTRA = {"exec": 1, "connect": 2, "open": 2, "syscall": 1}
FORK_FIELDS = 3  # fork, parent pid, child pid

Event = dict[str, Any]


class EventLineError(MicroshopError):
    """A line from bpftrace that is not one of the program's events."""


def container_id_of_leaf(name: str) -> str | None:
    """The container id in one cgroup path segment, or None."""
    found = LEAF_ID.search(name.strip())
    return found.group(1) if found else None


def container_id_of_cgroup_file(text: str) -> str | None:
    """The container id in /proc/PID/cgroup (v1 or v2 lines): the innermost segment naming one."""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        for segment in reversed(path.split("/")):
            found = container_id_of_leaf(segment)
            if found:
                return found
    return None


def open_flags(flags: int) -> dict[str, bool]:
    """Falco's evt.is_open_read / evt.is_open_write from openat's flags."""
    access = flags & O_ACCMODE
    write = access in (O_WRONLY, O_RDWR) or bool(flags & (O_CREAT | O_TRUNC))
    return {"evt.is_open_read": access in (0, O_RDWR), "evt.is_open_write": write}


class EventReader:
    """Turns the program's lines into events; remembers each pid's executable from its exec."""

    def __init__(self, proc: Path = Path("/proc")) -> None:
        self.proc = proc
        self.exepaths: OrderedDict[int, str] = OrderedDict()

    def _read(self, pid: int, name: str) -> str | None:
        """/proc/PID/NAME (a file, or a link's target), None when the process is gone."""
        path = self.proc / str(pid) / name
        try:
            return os.readlink(path) if path.is_symlink() else path.read_text()
        except OSError:
            return None

    def container_id(self, pid: int, leaf: str) -> str:
        """The container of a process: its leaf name, else /proc/PID/cgroup, else `host`."""
        found = container_id_of_leaf(leaf)
        if found is None:
            text = self._read(pid, "cgroup")
            found = container_id_of_cgroup_file(text) if text else None
        return found or HOST

    def exepath(self, pid: int) -> str | None:
        """The executable a pid last exec'd (seen by the sensor), else /proc/PID/exe."""
        return self.exepaths.get(pid) or self._read(pid, "exe")

    def remember(self, pid: int, exepath: str) -> None:
        """Keep a pid's executable for its later events, forgetting the oldest past the bound."""
        self.exepaths[pid] = exepath
        self.exepaths.move_to_end(pid)
        while len(self.exepaths) > KNOWN_PIDS:
            self.exepaths.popitem(last=False)

    def fork(self, parts: list[str]) -> None:
        """A fork line: the child's executable is its parent's until the child execs."""
        parent, child = int(parts[1]), int(parts[2])
        known = self.exepaths.get(parent)
        if known is not None:
            self.remember(child, known)
        else:
            self.exepaths.pop(child, None)  # a reused pid forgets the process it was

    def event(self, line: str) -> Event | None:
        """One printf line of program.bt as an event (None for a fork, which only updates what
        the reader knows); EventLineError when it is neither."""
        parts = line.rstrip("\n").split("\t")
        if parts[0] == "fork" and len(parts) == FORK_FIELDS:
            try:
                self.fork(parts)
            except ValueError:
                raise EventLineError(f"not a sensor event: {line.strip()[:120]!r}") from None
            return None
        count = EXTRA.get(parts[0], 0)
        problem = EventLineError(f"not a sensor event: {line.strip()[:120]!r}")
        if not count or len(parts) < COMMON + count:
            raise problem
        # the last field (a path) keeps any tab it holds
        extra = [*parts[COMMON : COMMON + count - 1], "\t".join(parts[COMMON + count - 1 :])]
        try:
            return self._event(parts[0], parts[1:COMMON], extra)
        except ValueError:
            raise problem from None

    def _event(self, kind: str, common: list[str], extra: list[str]) -> Event:
        """The fields of one event (ValueError on a malformed number)."""
        pid, ppid, uid = int(common[0]), int(common[1]), int(common[2])
        event: Event = {
            "evt.time": datetime.now(UTC).isoformat(timespec="microseconds"),
            "evt.dir": "<",
            "proc.pid": pid,
            "proc.ppid": ppid,
            "user.uid": uid,
            "proc.name": common[3],
            "proc.pname": common[4],
        }
        full_id = self.container_id(pid, common[5])
        event["container.id"] = full_id[:SHORT_ID]  # Falco's container.id: the first 12 digits
        event["container.full_id"] = full_id if full_id != HOST else None
        if kind == "exec":
            self.remember(pid, extra[0])
            event.update({"evt.type": "execve", "proc.exepath": extra[0]})
        else:
            event["proc.exepath"] = self.exepath(pid)
        if kind == "connect":
            event.update({"evt.type": "connect", "fd.sport": int(extra[0]), "fd.sip": extra[1]})
        elif kind == "open":
            event.update({"evt.type": "openat", "fd.name": extra[1], **open_flags(int(extra[0]))})
        elif kind == "syscall":
            event["evt.type"] = extra[0].removeprefix(SYSCALL_PROBE)
        return event
