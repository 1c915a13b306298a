"""Carry built pinned tools from one job to another: `scripts/tool-archive pack|unpack`.

The release builds its tools once, in the job that holds no token able to push or sign, and
hands them to the jobs that do (push to GHCR, keyless signing, tagging) as a run artifact, so
those jobs run no apt, uv or Go build while their tokens are within reach. An artifact keeps no
file modes, hence a tar: each member is NAME/VERSION[+FIX]/NAME, as in the tool cache.

    pack ARCHIVE NAME...   build any missing tool (gotools.ensure), then write the archive
    unpack ARCHIVE         put each binary into this machine's tool cache, executable

unpack takes only the pinned version of a known tool (a binary for another version, a path
outside the cache or anything but a regular file is refused, nothing written), leaves an identical
binary in place and replaces a different one atomically. Standard library only: the receiving
jobs start it with the system Python. Hand-written because a tar of three files needs nothing
more than tarfile; the checks are the point.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from microshop_ci.core import gotools
from microshop_ci.core.cache import cache_root
from microshop_ci.core.errors import ToolError


@dataclass(frozen=True)
class Carried:
    """One tool binary in an archive: name, pinned folder (VERSION[+FIX]) and its sha256."""

    name: str
    folder: str
    sha256: str

    def line(self) -> str:
        """`NAME FOLDER sha256:HEX`, as both commands print it."""
        return f"{self.name} {self.folder} sha256:{self.sha256}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _member_name(name: str) -> str:
    tool = gotools.lookup(name)
    binary = gotools.binary_path(tool, gotools.version_of(tool))
    return f"{name}/{binary.parent.name}/{name}"


def pack(archive: Path, names: Sequence[str]) -> list[Carried]:
    """Write the named tools (built first if missing) to archive. ToolError."""
    if not names:
        raise ToolError("name at least one tool to pack")
    carried = []
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w") as tar:
        for name in names:
            binary = gotools.ensure(name)
            member = _member_name(name)
            tar.add(binary, arcname=member, recursive=False)
            carried.append(Carried(name, member.split("/")[1], _sha256(binary)))
    return carried


def _checked(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Every member, each a regular file at the pinned path of a known tool. ToolError."""
    members = tar.getmembers()
    if not members:
        raise ToolError("the archive holds no tool")
    for member in members:
        parts = PurePosixPath(member.name).parts
        try:
            expected = _member_name(parts[0]) if len(parts) == 3 else None
        except ToolError:
            expected = None
        if not member.isreg() or member.name != expected:
            raise ToolError(
                f"refusing {member.name!r}: not the pinned build of a known tool "
                "(NAME/VERSION/NAME as scripts/tool-versions.env pins it)"
            )
    return members


def _place(data: bytes, target: Path) -> str:
    """Write data to target unless an identical file is there; returns its sha256.

    The partial file is this process's own (mkstemp beside target): jobs of one run that share a
    machine's tool cache (matrix legs on one self-hosted runner) unpack the same tools at once,
    and a shared partial name let one job truncate or remove the file another was checking."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    partial = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        digest = _sha256(partial)
        if target.is_file() and _sha256(target) == digest:
            return digest
        partial.chmod(0o755)
        os.replace(partial, target)
        return digest
    finally:
        partial.unlink(missing_ok=True)


def unpack(archive: Path) -> list[Carried]:
    """Put every binary of archive into the tool cache (all checked before any is written)."""
    tools_dir = cache_root() / "tools"
    carried = []
    try:
        with tarfile.open(archive, "r") as tar:
            for member in _checked(tar):
                source = tar.extractfile(member)
                if source is None:  # a regular file always has data; kept for the type checker
                    raise ToolError(f"{member.name}: no data in the archive")
                target = tools_dir / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                with source:
                    digest = _place(source.read(), target)
                carried.append(Carried(member.name.split("/")[0], target.parent.name, digest))
    except (OSError, tarfile.TarError) as exc:
        raise ToolError(f"{archive}: cannot read the tool archive ({exc})") from None
    return carried


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop tool-archive pack ARCHIVE NAME... | unpack ARCHIVE`."""
    sub = parser.add_subparsers(dest="action", required=True)
    packing = sub.add_parser("pack", help="the named tools (built first if missing)")
    packing.add_argument("archive", type=Path)
    packing.add_argument("names", nargs="*", metavar="NAME")
    unpacking = sub.add_parser("unpack", help="into the tool cache, each tool's pinned version")
    unpacking.add_argument("archive", type=Path)


def run_command(args: argparse.Namespace) -> int:
    """Pack or unpack; prints one `NAME FOLDER sha256:HEX` per tool."""
    done = pack(args.archive, args.names) if args.action == "pack" else unpack(args.archive)
    for tool in done:
        print(tool.line())
    return 0
