"""An in-memory PyPI advisory database loaded from an OSV export zip, matched by OSV's rules."""

from __future__ import annotations

import json
import os
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from microshop_ci.core.errors import MicroshopError
from microshop_ci.core.paths import REPO_ROOT

ECOSYSTEM = "PyPI"
SHARED_ZIP = "shared/data/osv/PyPI-pypa-advisory-database-2024-10-10.zip"
Advisory = Mapping[str, Any]


class OsvDataError(MicroshopError, ValueError):
    """The export zip cannot be read as OSV advisories."""

    exit_code = 2  # bad input: a usage error


def default_zip() -> Path:
    """MICROSHOP_OSV_ZIP, else the shared PyPI export beside the clone (../shared/data/osv/)."""
    configured = os.environ.get("MICROSHOP_OSV_ZIP")
    if configured:
        return Path(configured)
    return REPO_ROOT.parent / SHARED_ZIP


def _version(text: str) -> Version | None:
    """Parse a PEP 440 version, or None when the text is not one."""
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _event_version(event: Mapping[str, str]) -> tuple[str, Version | None]:
    """The kind of an event and its version ('introduced: 0' is the lowest version)."""
    kind, raw = next(iter(event.items()))
    if kind == "introduced" and raw == "0":
        return kind, Version("0")
    return kind, _version(raw)


def range_affects(events: Iterable[Mapping[str, str]], version: Version) -> bool:
    """Whether one ECOSYSTEM range's events include `version` (OSV schema's evaluation)."""
    parsed = [_event_version(event) for event in events]
    limits = [v for kind, v in parsed if kind == "limit"]
    if limits and not any(version < limit for limit in limits if limit is not None):
        return False
    ordered = sorted(
        ((kind, v) for kind, v in parsed if v is not None and kind != "limit"),
        key=lambda item: item[1],
    )
    affected = False
    for kind, boundary in ordered:
        if kind == "introduced" and version >= boundary:
            affected = True
        elif (kind == "fixed" and version >= boundary) or (
            kind == "last_affected" and version > boundary
        ):
            affected = False
    return affected


def affected_entry_matches(entry: Mapping[str, Any], version: Version, raw: str) -> bool:
    """Whether one `affected[]` entry covers the version: explicit list or ECOSYSTEM range."""
    for listed in entry.get("versions", ()):
        if listed == raw or _version(listed) == version:
            return True
    return any(
        rng.get("type") == "ECOSYSTEM" and range_affects(rng.get("events", ()), version)
        for rng in entry.get("ranges", ())
    )


@dataclass(frozen=True)
class OsvDatabase:
    """Advisories by id, and the ids affecting each canonical package name."""

    by_id: Mapping[str, Advisory]
    by_package: Mapping[str, tuple[str, ...]]
    source: str

    @classmethod
    def from_zip(cls, path: Path) -> OsvDatabase:
        """Load every `<id>.json` of an OSV export zip; withdrawn advisories are kept aside."""
        by_id: dict[str, Advisory] = {}
        by_package: defaultdict[str, list[str]] = defaultdict(list)
        try:
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    if not name.endswith(".json"):
                        continue
                    advisory = json.loads(archive.read(name))
                    by_id[advisory["id"]] = advisory
                    for entry in advisory.get("affected", ()):
                        package = entry.get("package", {})
                        if package.get("ecosystem") == ECOSYSTEM:
                            by_package[canonicalize_name(package["name"])].append(advisory["id"])
        except (OSError, zipfile.BadZipFile, json.JSONDecodeError, KeyError, TypeError) as err:
            raise OsvDataError(f"{path}: not an OSV export zip ({err})") from err
        if not by_id:
            raise OsvDataError(f"{path}: holds no OSV advisory")
        return cls(by_id, {k: tuple(dict.fromkeys(v)) for k, v in by_package.items()}, str(path))

    def query(self, name: str, version: str | None) -> list[Advisory]:
        """Advisories affecting `name` at `version` (all of the package's when version is None).

        Raises InvalidVersion when the version is not PEP 440.
        """
        canonical = canonicalize_name(name)
        parsed = Version(version) if version is not None else None
        found: list[Advisory] = []
        for vuln_id in self.by_package.get(canonical, ()):
            advisory = self.by_id[vuln_id]
            if advisory.get("withdrawn"):
                continue
            entries = [
                entry
                for entry in advisory.get("affected", ())
                if entry.get("package", {}).get("ecosystem") == ECOSYSTEM
                and canonicalize_name(entry["package"]["name"]) == canonical
            ]
            if parsed is None or any(
                affected_entry_matches(entry, parsed, version or "") for entry in entries
            ):
                found.append(advisory)
        return found

    def get(self, vuln_id: str) -> Advisory | None:
        """One advisory by id, or by one of its aliases."""
        if vuln_id in self.by_id:
            return self.by_id[vuln_id]
        for advisory in self.by_id.values():
            if vuln_id in advisory.get("aliases", ()):
                return advisory
        return None
