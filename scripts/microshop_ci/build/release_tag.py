"""Tag released images vX.Y.Z by digest, after approval and verification; a version tag never moves.

The release copies the gated images to GHCR under `git-<sha>` only; this runs last, once the
`release` environment's reviewers approved the signing and every signature, SBOM attestation and
provenance verified. Each image of the images file (already in the release registry, by digest)
gets the tag. A tag that already names the same digest is left alone (a re-run of the same
release); a tag that names another digest is refused for every image before any is tagged.

    scripts/tag-release --images reports/images.json --tag v1.2.3 [--crane PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from microshop_ci.build.promote import RELEASE_TAG_RE, PromoteError, crane_output
from microshop_ci.core.images import ImageRecord, read_images
from microshop_ci.core.tools import pinned_tool


def current_digest(crane: str, name: str, tag: str) -> str | None:
    """The digest name:tag points at now, None when the repository has no such tag."""
    if tag not in crane_output(crane, "ls", name).split():
        return None
    return crane_output(crane, "digest", f"{name}:{tag}")


def tag_release(images: dict[str, ImageRecord], tag: str, crane: str) -> dict[str, str]:
    """service -> "tagged" or "already tagged"; PromoteError, before any write, if a tag would
    move."""
    if not RELEASE_TAG_RE.match(tag):
        raise PromoteError(f"{tag!r} is not vX.Y.Z")
    existing = {}
    for service, record in sorted(images.items()):
        name, digest = record.image.name, record.image.digest
        found = current_digest(crane, name, tag)
        if found is not None and found != digest:
            raise PromoteError(
                f"{service}: {name}:{tag} is {found}; refusing to re-point it at {digest} "
                "(a version tag never moves: release a new version)"
            )
        existing[service] = found
    outcome = {}
    for service, record in sorted(images.items()):
        if existing[service] is not None:
            outcome[service] = "already tagged"
            continue
        crane_output(crane, "tag", record.ref, tag)
        tagged = crane_output(crane, "digest", f"{record.image.name}:{tag}")
        if tagged != record.image.digest:
            raise PromoteError(
                f"{service}: {record.image.name}:{tag} is {tagged} after tagging, "
                f"not {record.image.digest}"
            )
        outcome[service] = "tagged"
    return outcome


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop tag-release --images FILE --tag vX.Y.Z [--crane BIN]`."""
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--tag", required=True, help="vX.Y.Z (refused otherwise)")
    parser.add_argument("--crane", help="crane binary (default: scripts/tool crane)")


def run_command(args: argparse.Namespace) -> int:
    """Tag; one `SERVICE: NAME:TAG -> DIGEST (tagged|already tagged)` line per image."""
    images = read_images(args.images)
    crane = args.crane or pinned_tool("crane")
    done = tag_release(images, args.tag, crane)
    for service, what in done.items():
        image = images[service].image
        print(f"{service}: {image.name}:{args.tag} -> {image.digest} ({what})")
    return 0
