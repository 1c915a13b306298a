"""Hand the images file to later GitHub steps and jobs: $GITHUB_OUTPUT lines, or one reference."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.core.images import ImagesFileError, read_images

__all__ = ["Image", "ImagesFileError", "load_images", "main"]


@dataclass(frozen=True)
class Image:
    """One pushed image as the workflows and the cluster tests see it: service, name, digest."""

    service: str
    name: str
    digest: str

    @property
    def ref(self) -> str:
        """The reference by digest, `name@sha256:...`."""
        return f"{self.name}@{self.digest}"


def load_images(path: Path) -> dict[str, Image]:
    """Every image of the images file (microshop_ci.core.images reads and checks it)."""
    return {s: Image(s, r.name, r.digest) for s, r in read_images(path).items()}


def main(argv: Sequence[str] | None = None) -> int:
    """`outputs FILE [SERVICE]` (to $GITHUB_OUTPUT), `ref FILE SERVICE` (print)."""
    parser = argparse.ArgumentParser(prog="images", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    out = sub.add_parser("outputs")
    out.add_argument("file", type=Path)
    out.add_argument("service", nargs="?", help="only this service: name=, digest=, ref=")
    ref = sub.add_parser("ref")
    ref.add_argument("file", type=Path)
    ref.add_argument("service")
    args = parser.parse_args(argv)
    try:
        images = load_images(args.file)
    except ImagesFileError as exc:
        print(f"images: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "service", None) and args.service not in images:
        print(
            f"images: {args.file} has no image for {args.service!r} "
            f"(has: {', '.join(sorted(images))})",
            file=sys.stderr,
        )
        return 2
    if args.cmd == "ref":
        print(images[args.service].ref)
        return 0
    if args.service:
        one = images[args.service]
        lines = f"name={one.name}\ndigest={one.digest}\nref={one.ref}\n"
    else:
        table = json.dumps(
            {
                s: {"name": i.name, "digest": i.digest, "ref": i.ref}
                for s, i in sorted(images.items())
            },
            separators=(",", ":"),
        )
        lines = f"services={json.dumps(sorted(images))}\nimages={table}\n"
    target = os.environ.get("GITHUB_OUTPUT")
    if target:
        with Path(target).open("a") as fh:
            fh.write(lines)
    sys.stdout.write(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
