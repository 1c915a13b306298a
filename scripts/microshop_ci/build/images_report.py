"""Write the images file: service -> pushed reference by digest, plus what was measured."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def _inspect(local_tag: str) -> dict[str, Any]:
    """Return `docker image inspect` of a local image."""
    out = subprocess.run(
        ["docker", "image", "inspect", local_tag], capture_output=True, text=True, check=True
    )
    data: list[dict[str, Any]] = json.loads(out.stdout)
    return data[0]


def entry(ref: str, local_tag: str, revision: str, base: str, builder: str) -> dict[str, Any]:
    """Describe one pushed image from its digest reference and its local tag."""
    name, _, digest = ref.partition("@")
    if not digest.startswith("sha256:") or len(digest) != 71:
        raise ValueError(f"{ref!r} is not NAME@sha256:<64 hex>")
    info = _inspect(local_tag)
    config = info.get("Config") or {}
    return {
        "ref": ref,
        "name": name,
        "digest": digest,
        "image_id": info["Id"],
        "size": int(info["Size"]),
        "user": config.get("User", ""),
        "revision": revision,
        "base_image": base,
        "builder_image": builder,
        "local_tag": local_tag,
    }


def main(argv: list[str] | None = None) -> int:
    """CLI: images_report --out FILE SERVICE=REF=LOCALTAG..."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--revision", required=True)
    parser.add_argument("--base", required=True)
    parser.add_argument("--builder", required=True)
    parser.add_argument("records", nargs="+", help="SERVICE=NAME@DIGEST=LOCAL_TAG")
    args = parser.parse_args(argv)
    images: dict[str, Any] = {}
    try:
        for record in args.records:
            service, ref, local_tag = record.split("=", 2)
            images[service] = entry(ref, local_tag, args.revision, args.base, args.builder)
    except (ValueError, subprocess.CalledProcessError) as err:
        print(f"images_report: {err}", file=sys.stderr)
        return 2
    args.out.write_text(json.dumps(images, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
