"""Copy gated images by digest from the run's own registry to the release registry, with tags.

The release builds and pushes to a loopback registry, gates on Trivy there, and only then copies
the exact manifests (crane copy: same bytes, same digest) to GHCR under `git-<sha>`. A failed gate
leaves nothing in GHCR. The version tag `vX.Y.Z` is never written here: it is added after the
release's approval, signing and verification by microshop_ci.build.release_tag.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from pathlib import Path

from microshop_ci.build.images import git_tag, head_revision
from microshop_ci.core.errors import MicroshopError, UsageError
from microshop_ci.core.images import (
    ImageRecord,
    ImageRef,
    read_images,
    write_images,
)
from microshop_ci.core.tools import pinned_tool, run_tool

RELEASE_TAG_RE = re.compile(r"^v\d+\.\d+\.\d+$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class PromoteError(MicroshopError, RuntimeError):
    """A copy failed, or the copy's digest is not the gated one."""


def crane_output(crane: str, *args: str) -> str:
    """crane's stdout (stripped); PromoteError with its stderr when it fails."""
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
        if RELEASE_TAG_RE.match(tag):
            raise PromoteError(
                f"{tag!r} is a version tag: scripts/tag-release adds it once the release is "
                "approved, signed and verified"
            )
    images = read_images(images_file)
    registry = registry.lower().rstrip("/")
    promoted: dict[str, ImageRecord] = {}
    for service, record in sorted(images.items()):
        target = f"{registry}/{service}"
        # No --insecure: crane's flag turns TLS verification off for every registry of the
        # command, GHCR included, while it carries the push token. The gated images are on the
        # loopback registry, which crane reaches over plain HTTP by itself (go-containerregistry
        # treats localhost and 127.0.0.0/8 as HTTP registries); every other one needs TLS.
        crane_output(crane, "copy", record.ref, f"{target}:{tags[0]}")
        for tag in tags[1:]:
            crane_output(crane, "tag", f"{target}:{tags[0]}", tag)
        copied = crane_output(crane, "digest", f"{target}:{tags[0]}")
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


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop promote-images --images FILE --out FILE [--tag T]...`

    --registry defaults to MICROSHOP_REGISTRY (the release registry), --tag to git-<HEAD sha12>,
    --crane to the pinned crane.
    """
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--registry", default=os.environ.get("MICROSHOP_REGISTRY", ""))
    parser.add_argument("--tag", action="append", default=[], dest="tags")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--crane", help="crane binary (default: scripts/tool crane)")


def run_command(args: argparse.Namespace) -> int:
    """Copy every image by digest; one `SERVICE: REF (TAGS)` line each."""
    if not args.registry:
        raise UsageError("set MICROSHOP_REGISTRY (the release registry)")
    tags = list(args.tags) or [head_tag()]
    crane = args.crane or pinned_tool("crane")
    done = promote(args.images, args.registry, tags, args.out, crane)
    for service in sorted(done):
        print(f"{service}: {done[service].ref} ({', '.join(tags)})")
    return 0
