"""Hand the images file to later GitHub steps and jobs: $GITHUB_OUTPUT lines, or one reference."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.core.images import ImagesFileError, read_images

__all__ = ["Image", "ImagesFileError", "configure", "load_images", "run_command"]


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


def configure(parser: argparse.ArgumentParser) -> None:
    """`outputs FILE [SERVICE]` (to $GITHUB_OUTPUT), `ref FILE SERVICE` (print)."""
    sub = parser.add_subparsers(dest="cmd", required=True)
    out = sub.add_parser("outputs")
    out.add_argument("file", type=Path)
    out.add_argument("service", nargs="?", help="only this service: name=, digest=, ref=")
    ref = sub.add_parser("ref")
    ref.add_argument("file", type=Path)
    ref.add_argument("service")


def run_command(args: argparse.Namespace) -> int:
    """Write the images (or one service's) to $GITHUB_OUTPUT and print them."""
    images = load_images(args.file)
    if args.service and args.service not in images:
        raise ImagesFileError(
            f"{args.file} has no image for {args.service!r} (has: {', '.join(sorted(images))})"
        )
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
