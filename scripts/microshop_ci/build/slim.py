"""Slim the packages an image's build stage installed: bytecode only, this CPython's extensions,
stripped shared objects.

Runs inside the Dockerfiles' build stage (Debian's python3.11 and binutils' `strip`, no network),
copied into the build context by build/context.py, on the folder pip installed into:
1. each .py is compiled to a .pyc beside it and the .py removed (sourceless modules, which the
   interpreter imports as they are): the image carries the code once instead of source plus
   bytecode. Tracebacks keep file names and line numbers, not the source lines; the image's
   revision label names the commit that has them. The bytecode is compiled with
   unchecked-hash, as before, so it does not depend on when it was built.
2. extension modules built for another CPython (some wheels ship cpython-39/310 copies beside
   this one) are removed; stable-ABI (abi3) and this version's stay.
3. every ELF shared object is stripped of symbols and debug information (strip --strip-unneeded):
   wheels are often built with them, and nothing at runtime reads them.
compileall and strip do the work; this module only decides what they run on, which no tool does
in one step. Standard library only: it runs with the build stage's interpreter.
Usage: python3 slim.py DIR RUNTIME_DIR (RUNTIME_DIR: where DIR is in the image)
"""

from __future__ import annotations

import compileall
import py_compile
import re
import shutil
import subprocess
import sys
from pathlib import Path

THIS_ABI = f"cpython-{sys.version_info.major}{sys.version_info.minor}-"
EXTENSION = re.compile(r"\.cpython-\d+-[^/]+\.so$")
ELF = b"\x7fELF"
USAGE = "usage: python3 slim.py DIR RUNTIME_DIR (where pip installed; that folder in the image)"


def foreign_extensions(root: Path) -> list[Path]:
    """Extension modules tagged for another CPython than the one running this."""
    return sorted(
        path
        for path in root.rglob("*.so")
        if EXTENSION.search(path.name) and THIS_ABI not in path.name
    )


def shared_objects(root: Path) -> list[Path]:
    """Every regular file that is an ELF object (extension modules and bundled libraries)."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if handle.read(4) == ELF:
                    found.append(path)
    return found


def to_bytecode(root: Path, runtime: Path) -> int:
    """Compile every .py beside itself (legacy .pyc) under the name it has at runtime (tracebacks
    name the file as the image has it), then remove the sources and caches."""
    ok = compileall.compile_dir(
        root,
        ddir=runtime,
        quiet=1,
        legacy=True,
        workers=1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise SystemExit(f"slim: compiling {root} failed")
    sources = sorted(root.rglob("*.py"))
    for source in sources:
        source.unlink()
    for cache in sorted(root.rglob("__pycache__")):
        shutil.rmtree(cache)
    return len(sources)


def slim(root: Path, runtime: Path) -> str:
    """All three steps on root, whose path at runtime is runtime; a one-line account."""
    foreign = foreign_extensions(root)
    for path in foreign:
        path.unlink()
    objects = shared_objects(root)
    if objects:
        subprocess.run(["strip", "--strip-unneeded", *map(str, objects)], check=True)
    compiled = to_bytecode(root, runtime)
    return (
        f"slim: {compiled} modules as bytecode only, {len(foreign)} extensions of another"
        f" CPython removed, {len(objects)} shared objects stripped"
    )


def main(argv: list[str] | None = None) -> int:
    """python3 slim.py DIR RUNTIME_DIR."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not Path(args[0]).is_dir():
        print(USAGE, file=sys.stderr)
        return 2
    print(slim(Path(args[0]), Path(args[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
