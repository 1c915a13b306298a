"""The release records a re-scan reads: each version's images file and its services' SBOMs.

A release record is a folder named after its version tag (vX.Y.Z) holding what release.yml
publishes as the GitHub release's assets: `images.json` (service -> image by digest) and one
CycloneDX SBOM per service, `<service>.sbom.cdx.json`. Locally the records live in
.local/releases/<tag>/ (`gh release download vX.Y.Z -D .local/releases/vX.Y.Z` makes one); on
GitHub they are downloaded from the releases (microshop_ci.rescan.github).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.core.errors import MicroshopError
from microshop_ci.core.images import ImageRecord, ImagesFileError, read_images
from microshop_ci.sign.sbom import canonical

VERSION_TAG = re.compile(r"^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
IMAGES_FILE = "images.json"
SBOM_SUFFIX = ".sbom.cdx.json"


class RecordError(MicroshopError, ValueError):
    """A release record is missing or incomplete; the message names the file."""

    exit_code = 2  # bad input: a usage error


def version_key(tag: str) -> tuple[int, int, int]:
    """(major, minor, patch) of a vX.Y.Z tag; RecordError for anything else."""
    match = VERSION_TAG.match(tag)
    if not match:
        raise RecordError(f"{tag!r} is not a release tag vX.Y.Z")
    return int(match[1]), int(match[2]), int(match[3])


def latest(tags: list[str], count: int) -> list[str]:
    """The `count` highest version tags, oldest first (other names are not releases)."""
    releases = sorted((t for t in tags if VERSION_TAG.match(t)), key=version_key)
    return releases[-count:] if count > 0 else []


@dataclass(frozen=True)
class ReleasedImage:
    """One service's image in one released version, and the SBOM published with it."""

    tag: str
    service: str
    image: ImageRecord
    sbom: Path

    def python_pins(self) -> dict[str, str]:
        """{canonical name: version} of the SBOM's PyPI components, the service's own left out."""
        try:
            doc = json.loads(self.sbom.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RecordError(f"{self.sbom}: not a CycloneDX SBOM ({exc})") from None
        pins = {}
        for item in doc.get("components") or []:
            if not str(item.get("purl", "")).startswith("pkg:pypi/"):
                continue
            name, version = canonical(str(item.get("name", ""))), str(item.get("version", ""))
            if name and version and name != canonical(self.service):
                pins[name] = version
        return dict(sorted(pins.items()))


def read_record(folder: Path) -> list[ReleasedImage]:
    """Every service image of the record in folder (named after its tag), each with its SBOM."""
    tag = folder.name
    version_key(tag)
    try:
        images = read_images(folder / IMAGES_FILE)
    except ImagesFileError as exc:
        raise RecordError(str(exc)) from None
    released = []
    for service, image in sorted(images.items()):
        sbom = folder / f"{service}{SBOM_SUFFIX}"
        if not sbom.is_file():
            raise RecordError(f"{sbom}: the SBOM of {service} {tag} is missing from the record")
        released.append(ReleasedImage(tag, service, image, sbom))
    return released


def local_records(root: Path, count: int, only: str | None = None) -> list[ReleasedImage]:
    """The images of the `count` latest records under root (or of the one tag `only`)."""
    if only is not None:
        folder = root / only
        if not folder.is_dir():
            raise RecordError(f"{folder}: no release record for {only}")
        return read_record(folder)
    tags = [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    chosen = latest(tags, count)
    if not chosen:
        raise RecordError(f"{root}: no release record (a folder vX.Y.Z with {IMAGES_FILE})")
    return [image for tag in chosen for image in read_record(root / tag)]
