"""The images the manifests need, from the images file (microshop_ci.core.images)."""

from __future__ import annotations

from pathlib import Path

from microshop_ci.core.errors import UsageError
from microshop_ci.core.images import ImageRef, ImagesFileError, read_images

SERVICES = ("api-service", "client-service")
# Images an images file may add: the local cluster's database (k8s/components/ferretdb).
OPTIONAL = ("ferretdb",)

__all__ = ["OPTIONAL", "SERVICES", "ImageRef", "load_images", "parse_ref"]


def parse_ref(ref: str) -> ImageRef:
    """Split NAME@sha256:<64 hex>; raise ValueError for anything else (a tag, a short digest)."""
    return ImageRef.parse(ref)


def load_images(path: Path) -> dict[str, ImageRef]:
    """The images of both services (and OPTIONAL ones present); errors name the file and field."""
    try:
        records = read_images(path, require=SERVICES)
    except ImagesFileError as exc:
        raise UsageError(str(exc)) from None
    return {s: records[s].image for s in SERVICES + OPTIONAL if s in records}
