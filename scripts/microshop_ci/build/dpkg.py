"""Read a Debian dpkg status database and resolve the dependency closure of a package set."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"[\s(:]")


@dataclass(frozen=True)
class Package:
    """One installed package: its name, its raw status paragraph and its dependency groups."""

    name: str
    paragraph: str
    depends: tuple[tuple[str, ...], ...]
    provides: tuple[str, ...]


def _field(paragraph: str, name: str) -> str:
    """Return a single-line field of a deb822 paragraph, or an empty string."""
    for line in paragraph.splitlines():
        key, sep, value = line.partition(":")
        if sep and key == name and not line.startswith((" ", "\t")):
            return value.strip()
    return ""


def _names(value: str) -> list[str]:
    """Return the bare package names of a comma-separated relation field."""
    return [_NAME.split(item.strip(), maxsplit=1)[0] for item in value.split(",") if item.strip()]


def parse_status(text: str) -> dict[str, Package]:
    """Parse /var/lib/dpkg/status into packages by name (installed ones only)."""
    packages: dict[str, Package] = {}
    for paragraph in text.strip().split("\n\n"):
        name = _field(paragraph, "Package")
        if not name or "installed" not in _field(paragraph, "Status").split():
            continue
        groups: list[tuple[str, ...]] = []
        for field in ("Pre-Depends", "Depends"):
            for group in filter(None, (g.strip() for g in _field(paragraph, field).split(","))):
                groups.append(tuple(_names(group.replace("|", ","))))
        packages[name] = Package(
            name, paragraph, tuple(groups), tuple(_names(_field(paragraph, "Provides")))
        )
    return packages


def closure(
    packages: Mapping[str, Package], roots: Iterable[str], exclude: Iterable[str]
) -> list[str]:
    """Return the sorted dependency closure of roots, never entering excluded packages.

    An excluded dependency is dropped on purpose (a tool the runtime must not carry, such as
    dpkg or debconf); a dependency that is not installed at all is an error.
    """
    provided = {p: pkg.name for pkg in packages.values() for p in pkg.provides}
    skip = set(exclude)
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in packages:
            raise KeyError(f"package {name!r} is not installed in the rootfs")
        seen.add(name)
        for group in packages[name].depends:
            found = [n if n in packages else provided.get(n) for n in group]
            candidates = [n for n in found if n]
            if not candidates:
                raise KeyError(f"{name}: no installed package satisfies {' | '.join(group)}")
            if any(c in seen for c in candidates) or candidates[0] in skip:
                continue
            todo.append(candidates[0])
    return sorted(seen)


def owned_paths(rootfs: Path, name: str) -> list[str]:
    """Return the paths a package installed, from its dpkg .list file."""
    info = rootfs / "var/lib/dpkg/info"
    for candidate in (info / f"{name}.list", *sorted(info.glob(f"{name}:*.list"))):
        if candidate.is_file():
            return [line for line in candidate.read_text().splitlines() if line and line != "/."]
    raise FileNotFoundError(f"no dpkg file list for {name} in {info}")
