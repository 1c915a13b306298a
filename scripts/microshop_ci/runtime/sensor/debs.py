"""Pinned Debian packages (bpftrace and its libraries) fetched, verified, unpacked into the cache.

`apt-get download NAME=VERSION` (apt checks the file against the signed archive index), then the
.deb's SHA-256 against the pin in scripts/tool-versions.env (`KEY=VERSION sha256:DIGEST`), then
`dpkg-deb -x` into CACHE/runtime-sensor/LABEL/TAG: nothing is installed on the machine.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.core.cache import cache_root, locked
from microshop_ci.core.errors import ToolError
from microshop_ci.core.pins import pin
from microshop_ci.core.tools import run_tool

# bpftrace and what it needs beyond a Debian bookworm base (the sensor image's base too).
BPFTRACE = {
    "bpftrace": "BPFTRACE_DEB",
    "libbpfcc": "LIBBPFCC_DEB",
    "libbpf1": "LIBBPF1_DEB",
    "libclang1-14": "LIBCLANG1_14_DEB",
    "libclang-cpp14": "LIBCLANG_CPP14_DEB",
    "libllvm14": "LIBLLVM14_DEB",
}
BUSYBOX = {"busybox-static": "BUSYBOX_STATIC_DEB"}


@dataclass(frozen=True)
class Deb:
    """One pinned package: its name, exact Debian version and the .deb's SHA-256."""

    name: str
    version: str
    sha256: str

    @classmethod
    def pinned(cls, name: str, key: str) -> Deb:
        """The pin `KEY=VERSION sha256:DIGEST`, or a ToolError naming the key."""
        version, _, digest = pin(key).partition(" sha256:")
        if not version or len(digest) != 64:
            raise ToolError(f"{key} must read `VERSION sha256:DIGEST` (scripts/tool-versions.env)")
        return cls(name, version, digest)


def unpacked(packages: dict[str, str], label: str) -> Path:
    """The root folder all the pinned packages are unpacked into, fetched once per pin set."""
    debs = [Deb.pinned(name, key) for name, key in packages.items()]
    tag = hashlib.sha256("".join(d.sha256 for d in debs).encode()).hexdigest()[:16]
    folder = cache_root() / "runtime-sensor" / label / tag
    if (folder / ".done").is_file():
        return folder
    with locked(folder.parent / ".lock"):
        if (folder / ".done").is_file():
            return folder
        with tempfile.TemporaryDirectory(prefix=f"{label}-debs-") as tmp:
            wanted = [f"{d.name}={d.version}" for d in debs]
            run_tool(["apt-get", "download", "-q", *wanted], cwd=Path(tmp), timeout=600)
            staging = folder.with_name(folder.name + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            for deb in debs:
                path = next(Path(tmp).glob(f"{deb.name}_*.deb"))
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                if digest != deb.sha256:
                    raise ToolError(f"{path.name}: sha256 {digest}, pinned {deb.sha256}")
                run_tool(["dpkg-deb", "-x", str(path), str(staging)])
            (staging / ".done").write_text("\n".join(wanted) + "\n")
            shutil.rmtree(folder, ignore_errors=True)
            staging.rename(folder)
    return folder
