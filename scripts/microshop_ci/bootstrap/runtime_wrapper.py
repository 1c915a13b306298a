#!/usr/bin/python3
"""An OCI runtime in front of runc that drops capabilities the machine's bounding set lacks.

On machines whose capability bounding set lacks a capability (CAP_SYS_RESOURCE on the build
machines), `docker run --privileged` fails: runc asks for every capability and the kernel refuses.
dockerd runs this file as its default runtime there (scripts/dockerd-up): on `create`/`run` it
removes the missing capabilities from every set in the bundle's config.json, on `exec` from the
`--process` file, then execs the real runc with the same arguments. Where nothing is missing it
changes nothing. Standard library only: dockerd runs it with the system Python.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

RUNC = os.environ.get("MICROSHOP_REAL_RUNC", "/usr/sbin/runc")
CAP_NAMES = {24: "CAP_SYS_RESOURCE"}  # the capabilities this workaround knows how to drop
CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


def missing_capabilities(status: str) -> set[str]:
    """Names of known capabilities absent from the bounding set in /proc/self/status text."""
    for line in status.splitlines():
        if line.startswith("CapBnd:"):
            bounding = int(line.split()[1], 16)
            return {name for bit, name in CAP_NAMES.items() if not bounding & (1 << bit)}
    return set()


def strip_process(process: dict[str, object], drop: set[str]) -> bool:
    """Remove drop from every capability set of an OCI process object; True if it changed."""
    caps = process.get("capabilities")
    if not isinstance(caps, dict):
        return False
    changed = False
    for key in CAP_SETS:
        values = caps.get(key)
        if isinstance(values, list) and drop.intersection(values):
            caps[key] = [v for v in values if v not in drop]
            changed = True
    return changed


def option_value(args: Sequence[str], *names: str) -> str | None:
    """The value of a runc option given as `--name value` or `--name=value`."""
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def files_to_fix(args: Sequence[str]) -> list[tuple[Path, bool]]:
    """(json file, is a whole OCI config) pairs that this runc command line will read."""
    commands = [a for a in args if not a.startswith("-")]
    if "create" in commands or "run" in commands:
        bundle = option_value(args, "--bundle", "-b") or "."
        return [(Path(bundle) / "config.json", True)]
    if "exec" in commands:
        process = option_value(args, "--process", "-p")
        return [(Path(process), False)] if process else []
    return []


def fix_file(path: Path, whole_config: bool, drop: set[str]) -> None:
    """Rewrite one file in place without the dropped capabilities."""
    data = json.loads(path.read_text())
    process = data.get("process", {}) if whole_config else data
    if strip_process(process, drop):
        path.write_text(json.dumps(data))


def main(argv: Sequence[str]) -> None:
    """Fix the files runc is about to read, then become runc."""
    drop = missing_capabilities(Path("/proc/self/status").read_text())
    if drop:
        for path, whole in files_to_fix(argv):
            if path.is_file():
                fix_file(path, whole, drop)
    os.execv(RUNC, [RUNC, *argv])  # noqa: S606 -- become runc with the same arguments


if __name__ == "__main__":
    main(sys.argv[1:])
