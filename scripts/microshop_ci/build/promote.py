"""Copy gated images by digest from the run's own registry to the release registry, with tags.

The release builds and pushes to a loopback registry, gates on Trivy there, and only then copies
the exact manifests (crane copy: same bytes, same digest) to GHCR under `git-<sha>` and the
release tag `vX.Y.Z`. A failed gate leaves nothing in GHCR.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from microshop_ci.build.images import git_tag, head_revision
from microshop_ci.core.images import (
    ImageRecord,
    ImageRef,
    ImagesFileError,
    read_images,
    write_images,
)
from microshop_ci.core.tools import ToolError, pinned_tool, run_tool

RELEASE_TAG_RE = re.compile(r"^v\d+\.\d+\.\d+$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class PromoteError(RuntimeError):
    """A copy failed, or the copy's digest is not the gated one."""


def _crane(crane: str, *args: str) -> str:
    result = run_tool([crane, *args], ok_codes=None)
    if result.returncode != 0:
        raise PromoteError(f"crane {' '.join(args[:1])} failed: {result.stderr.strip()[-800:]}")
    return result.stdout.strip()


def promote(
    images_file: Path, registry: str, tags: Sequence[str], out: Path, crane: str
) -> dict[str, ImageRecord]:
    """Copy each image to REGISTRY/SERVICE:TAG (every tag); return the rewritten images file."""
    if not tags:
        raise PromoteError("give at least one --tag")
    for tag in tags:
        if not TAG_RE.match(tag):
            raise PromoteError(f"{tag!r} is not a valid image tag")
    images = read_images(images_file)
    registry = registry.lower().rstrip("/")
    promoted: dict[str, ImageRecord] = {}
    for service, record in sorted(images.items()):
        target = f"{registry}/{service}"
        _crane(crane, "copy", "--insecure", record.ref, f"{target}:{tags[0]}")
        for tag in tags[1:]:
            _crane(crane, "tag", f"{target}:{tags[0]}", tag)
        copied = _crane(crane, "digest", f"{target}:{tags[0]}")
        if copied != record.image.digest:
            raise PromoteError(
                f"{service}: {target} has digest {copied}, the gated one is {record.image.digest}"
            )
        extra = {**record.extra, "tags": list(tags), "gated_ref": record.ref}
        promoted[service] = ImageRecord(ImageRef(target, record.image.digest), extra)
    write_images(out, promoted)
    return promoted


def head_tag() -> str:
    """git-<first 12 hex digits of HEAD>: the tag every promoted image gets (as built)."""
    return git_tag(head_revision())


def main(argv: Sequence[str] | None = None) -> int:
    """scripts/promote-images --images FILE --out FILE [--release-tag vX.Y.Z] [--tag T]...

    --registry defaults to MICROSHOP_REGISTRY (the release registry), --tag to git-<HEAD sha12>,
    --crane to the pinned crane.
    """
    parser = argparse.ArgumentParser(prog="promote-images", description=__doc__)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--registry", default=os.environ.get("MICROSHOP_REGISTRY", ""))
    parser.add_argument("--tag", action="append", default=[], dest="tags")
    parser.add_argument("--release-tag", default="", help="vX.Y.Z (refused otherwise)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--crane", help="crane binary (default: scripts/tool crane)")
    args = parser.parse_args(argv)
    if not args.registry:
        print("promote-images: set MICROSHOP_REGISTRY (the release registry)", file=sys.stderr)
        return 1
    tags = list(args.tags)
    if args.release_tag and not RELEASE_TAG_RE.match(args.release_tag):
        print(f"promote-images: {args.release_tag!r} is not vX.Y.Z", file=sys.stderr)
        return 2
    try:
        tags = tags or [head_tag()]
        if args.release_tag:
            tags.append(args.release_tag)
        crane = args.crane or pinned_tool("crane")
        done = promote(args.images, args.registry, tags, args.out, crane)
    except (ImagesFileError, PromoteError, ToolError) as exc:
        print(f"promote-images: {exc}", file=sys.stderr)
        return 1
    for service in sorted(done):
        print(f"{service}: {done[service].ref} ({', '.join(tags)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
