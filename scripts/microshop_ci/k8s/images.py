"""Read reports/images.json (from scripts/build-images): service -> pushed digest reference."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.k8s.common import UsageError

SERVICES = ("api-service", "client-service")
# Images an images file may add: the local cluster's database (k8s/components/ferretdb).
OPTIONAL = ("ferretdb",)
_REF = re.compile(r"^(?P<name>[a-z0-9][a-z0-9._:/-]*)@(?P<digest>sha256:[0-9a-f]{64})$")


@dataclass(frozen=True)
class ImageRef:
    """An image pushed to a registry, referenced by digest."""

    name: str
    digest: str

    @property
    def ref(self) -> str:
        """NAME@sha256:DIGEST."""
        return f"{self.name}@{self.digest}"

    @property
    def registry(self) -> str:
        """The registry host (and port) of the image."""
        return self.name.split("/", 1)[0]


def parse_ref(ref: str) -> ImageRef:
    """Split NAME@sha256:<64 hex>; raise ValueError for anything else (a tag, a short digest)."""
    match = _REF.match(ref)
    if not match:
        raise ValueError(f"{ref!r} is not NAME@sha256:<64 hex digits>")
    return ImageRef(match["name"], match["digest"])


def load_images(path: Path) -> dict[str, ImageRef]:
    """The images of both services (and OPTIONAL ones present) from an images file.

    Errors name the file and the field.
    """
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the images file ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected an object of service -> {{ref: ...}}")
    images: dict[str, ImageRef] = {}
    for service in SERVICES + tuple(name for name in OPTIONAL if name in data):
        entry = data.get(service)
        ref = entry.get("ref") if isinstance(entry, dict) else None
        if not isinstance(ref, str):
            raise UsageError(f"{path}: {service}.ref is missing")
        try:
            images[service] = parse_ref(ref)
        except ValueError as exc:
            raise UsageError(f"{path}: {service}.ref: {exc}") from exc
    return images
