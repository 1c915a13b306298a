"""The images file (reports/images.json): service -> the image pushed for it, by digest.

One shape, written by scripts/build-images (and rewritten by promote-images and the local
cluster): a JSON object whose keys are services and whose values hold at least `ref`,
`NAME@sha256:<64 hex>`; `name` and `digest` repeat its two halves, the rest is what the build
measured. This module is its only reader and writer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microshop_ci.core.errors import MicroshopError

_REF = re.compile(r"^(?P<name>[a-z0-9][a-z0-9._:/-]*)@(?P<digest>sha256:[0-9a-f]{64})$")


class ImagesFileError(MicroshopError, ValueError):
    """The images file is missing, malformed, or lacks a service; the message names the file."""


@dataclass(frozen=True)
class ImageRef:
    """An image pushed to a registry, referenced by digest (a tag in the name is dropped)."""

    name: str
    digest: str

    @classmethod
    def parse(cls, ref: str) -> ImageRef:
        """Split NAME[:TAG]@sha256:<64 hex>; ValueError for anything else (a short digest)."""
        match = _REF.match(ref)
        if not match:
            raise ValueError(f"{ref!r} is not NAME@sha256:<64 hex digits>")
        head, _, last = match["name"].rpartition("/")
        name = f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]
        return cls(name, match["digest"])

    @property
    def ref(self) -> str:
        """NAME@sha256:DIGEST."""
        return f"{self.name}@{self.digest}"

    @property
    def registry(self) -> str:
        """The registry host (and port) of the image."""
        return self.name.split("/", 1)[0]


@dataclass(frozen=True)
class ImageRecord:
    """One service's entry: its reference and whatever else the writer recorded."""

    image: ImageRef
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """NAME@sha256:DIGEST."""
        return self.image.ref

    @property
    def name(self) -> str:
        """The repository the image was pushed to, without a tag."""
        return self.image.name

    @property
    def digest(self) -> str:
        """sha256:<64 hex> of the manifest."""
        return self.image.digest

    @property
    def size(self) -> int | None:
        """The image's size in bytes, when the build recorded it."""
        size = self.extra.get("size")
        return size if isinstance(size, int) else None

    def to_json(self) -> dict[str, Any]:
        """The entry as written: extra keys, then ref, name and digest from the reference."""
        return {
            **self.extra,
            "ref": self.image.ref,
            "name": self.image.name,
            "digest": self.image.digest,
        }


def read_images(path: Path, require: Iterable[str] = ()) -> dict[str, ImageRecord]:
    """Every entry of the file, checked; each service in `require` must be listed."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ImagesFileError(f"{path}: cannot read the images file ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ImagesFileError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ImagesFileError(f"{path}: expected an object of service -> {{ref: ...}}")
    for service in require:
        if service not in data:
            raise ImagesFileError(f"{path}: {service}.ref is missing")
    if not data:
        raise ImagesFileError(f"{path}: lists no image")
    records: dict[str, ImageRecord] = {}
    for service, entry in data.items():
        ref = entry.get("ref") if isinstance(entry, dict) else None
        if not isinstance(ref, str):
            raise ImagesFileError(f"{path}: {service}.ref is missing")
        try:
            image = ImageRef.parse(ref)
        except ValueError as exc:
            raise ImagesFileError(f"{path}: {service}.ref: {exc}") from None
        extra = {k: v for k, v in entry.items() if k not in ("ref", "name", "digest")}
        records[str(service)] = ImageRecord(image, extra)
    return records


def write_images(path: Path, records: Mapping[str, ImageRecord]) -> None:
    """Write the file: sorted keys, two-space indent, a final newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {service: record.to_json() for service, record in records.items()}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
