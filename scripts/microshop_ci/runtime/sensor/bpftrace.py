"""How the sensor starts bpftrace: the pinned build, the program filled in, tracefs in place."""

from __future__ import annotations

import os
from pathlib import Path

from microshop_ci.core.errors import ToolError, UsageError
from microshop_ci.core.tools import run_tool
from microshop_ci.runtime.sensor.debs import BPFTRACE, unpacked

PROGRAM = Path(__file__).with_name("program.bt")
TRACEFS = Path("/sys/kernel/tracing")
# bpftrace 0.17 copies strings onto the 512-byte BPF stack: 96 bytes per string is the most the
# open probe's three strings fit (longer paths are cut at 95 bytes; their prefix still matches).
STRLEN = "96"
# The perf ring per CPU, in 4 KiB pages (bpftrace's default is 64): 4 MiB absorbs bursts of
# a few thousand events a second while Python catches up (docs/runtime-detection.md).
RING_PAGES = "1024"


def memory_subsys_index(cgroups: Path = Path("/proc/cgroups")) -> int:
    """The memory controller's index: its row among the subsystems /proc/cgroups lists in order."""
    names = [
        line.split()[0] for line in cgroups.read_text().splitlines() if not line.startswith("#")
    ]
    if "memory" not in names:
        raise UsageError(f"{cgroups}: the kernel has no memory cgroup controller")
    return names.index("memory")


def host_pid_namespace() -> int:
    """The inode of this process's pid namespace: the sensor's own, dropped in the kernel."""
    return os.stat("/proc/self/ns/pid").st_ino


def ensure_tracefs(root: Path = TRACEFS) -> None:
    """Tracepoints are listed in tracefs; mount it where the kernel expects it when absent."""
    if (root / "available_events").is_file():
        return
    result = run_tool(["mount", "-t", "tracefs", "nodev", str(root)], ok_codes=None, timeout=30)
    if result.returncode != 0 or not (root / "available_events").is_file():
        reason = result.stderr.strip() or "no available_events after mounting"
        raise ToolError(f"tracefs is not mounted at {root} and could not be: {reason}")


def program_text(memory_index: int) -> str:
    """program.bt with the memory controller's index written in."""
    return PROGRAM.read_text().replace("MEMORY_SUBSYS", str(memory_index))


def command(program: Path, keep_host: bool) -> tuple[list[str], dict[str, str]]:
    """The bpftrace command line (JSON output, line-buffered) and its environment."""
    root = unpacked(BPFTRACE, "bpftrace")
    binary = root / "usr" / "bin" / "bpftrace"
    env = {
        **os.environ,
        "LD_LIBRARY_PATH": str(root / "usr" / "lib" / "x86_64-linux-gnu"),
        "BPFTRACE_STRLEN": STRLEN,
        "BPFTRACE_PERF_RB_PAGES": RING_PAGES,
    }
    namespace = "0" if keep_host else str(host_pid_namespace())
    return [str(binary), "-B", "line", "-f", "json", str(program), namespace], env
