"""Write the images file: service -> pushed reference by digest, plus what was measured.

`image_id` is the image's config digest as normalize_image.py computed it from the normalized
config (what the reproducibility checks compare): the same on Docker's classic image store and
on the containerd store (Docker 29's default), whose `docker image inspect` Id is the manifest
digest instead. The engine's own Id is kept apart as `engine_image_id`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from microshop_ci.core.errors import UsageError
from microshop_ci.core.images import ImageRecord, ImageRef, write_images
from microshop_ci.core.tools import docker

HEX = "0123456789abcdef"


def _inspect(local_tag: str) -> dict[str, Any]:
    """Return `docker image inspect` of a local image."""
    data: list[dict[str, Any]] = json.loads(docker("image", "inspect", local_tag))
    return data[0]


def _is_digest(value: str) -> bool:
    hex_part = value.removeprefix("sha256:")
    return value.startswith("sha256:") and len(hex_part) == 64 and set(hex_part) <= set(HEX)


def entry(
    ref: str, local_tag: str, config_digest: str, revision: str, base: str, builder: str
) -> dict[str, Any]:
    """Describe one pushed image from its digest reference, local tag and config digest."""
    name, _, digest = ref.partition("@")
    if not _is_digest(digest):
        raise ValueError(f"{ref!r} is not NAME@sha256:<64 hex>")
    if not _is_digest(config_digest):
        raise ValueError(f"{config_digest!r} is not a config digest (sha256:<64 hex>)")
    info = _inspect(local_tag)
    config = info.get("Config") or {}
    return {
        "ref": ref,
        "name": name,
        "digest": digest,
        "image_id": config_digest,
        "engine_image_id": info["Id"],
        "size": int(info["Size"]),
        "user": config.get("User", ""),
        "revision": revision,
        "base_image": base,
        "builder_image": builder,
        "local_tag": local_tag,
    }


def record(
    ref: str, local_tag: str, config_digest: str, revision: str, base: str, builder: str
) -> ImageRecord:
    """The images file's entry of one pushed image (see entry())."""
    described = entry(ref, local_tag, config_digest, revision, base, builder)
    extra = {k: v for k, v in described.items() if k not in ("ref", "name", "digest")}
    return ImageRecord(ImageRef.parse(ref), extra)


def parse_record(record: str) -> tuple[str, str, str, str]:
    """SERVICE=NAME@DIGEST=LOCAL_TAG=CONFIG_DIGEST, as scripts/build-images passes it."""
    parts = record.split("=")
    if len(parts) != 4:
        raise ValueError(f"{record!r} is not SERVICE=NAME@DIGEST=LOCAL_TAG=CONFIG_DIGEST")
    return parts[0], parts[1], parts[2], parts[3]


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop images-report --out FILE ... SERVICE=REF=LOCAL_TAG=CONFIG_DIGEST...`."""
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--revision", required=True)
    parser.add_argument("--base", required=True)
    parser.add_argument("--builder", required=True)
    parser.add_argument("records", nargs="+", help="SERVICE=NAME@DIGEST=LOCAL_TAG=CONFIG_DIGEST")


def run_command(args: argparse.Namespace) -> int:
    """Write the images file of the records."""
    images: dict[str, ImageRecord] = {}
    try:
        for item in args.records:
            service, ref, local_tag, config = parse_record(item)
            images[service] = record(ref, local_tag, config, args.revision, args.base, args.builder)
    except ValueError as err:
        raise UsageError(str(err)) from err
    write_images(args.out, images)
    return 0
