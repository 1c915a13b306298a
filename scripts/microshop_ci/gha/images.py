"""Read the images file written by scripts/build-images: service -> pushed reference by digest."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DIGEST_REF_RE = re.compile(r"^(?P<name>[^@\s]+)@(?P<digest>sha256:[0-9a-f]{64})$")


class ImagesFileError(ValueError):
    """The images file is missing, malformed or lacks a service."""


@dataclass(frozen=True)
class Image:
    """One pushed image: repository name without tag, and its manifest digest."""

    service: str
    name: str
    digest: str

    @property
    def ref(self) -> str:
        """The reference by digest, `name@sha256:...`."""
        return f"{self.name}@{self.digest}"


def _strip_tag(name: str) -> str:
    head, _, last = name.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


def _image(service: str, entry: Any) -> Image:
    if isinstance(entry, str):
        ref = entry
    elif isinstance(entry, dict):
        ref = next((str(entry[k]) for k in ("ref", "reference", "image") if k in entry), "")
        if not ref and "digest" in entry:
            repo = entry.get("repository") or entry.get("repo") or entry.get("name")
            ref = f"{repo}@{entry['digest']}"
    else:
        ref = ""
    match = DIGEST_REF_RE.match(ref)
    if not match:
        raise ImagesFileError(f"{service}: {ref or entry!r} is not a reference by sha256 digest")
    return Image(service, _strip_tag(match["name"]), match["digest"])


def load_images(path: Path) -> dict[str, Image]:
    """Parse the file: a list of entries, {"images": [...]}, or {service: entry}."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ImagesFileError(f"{path}: not found (run scripts/build-images --out first)") from exc
    except json.JSONDecodeError as exc:
        raise ImagesFileError(f"{path}: not JSON: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("images"), list | dict):
        data = data["images"]
    items: list[tuple[str, Any]]
    if isinstance(data, list):
        items = []
        for entry in data:
            name = entry.get("service") or entry.get("name") if isinstance(entry, dict) else None
            if not name:
                raise ImagesFileError(f"{path}: an entry has no `service` or `name`: {entry!r}")
            items.append((str(name).rsplit("/", 1)[-1].split(":")[0], entry))
    elif isinstance(data, dict):
        items = [(str(k), v) for k, v in data.items()]
    else:
        raise ImagesFileError(f"{path}: expected a list or a mapping of images")
    if not items:
        raise ImagesFileError(f"{path}: lists no image")
    return {service: _image(service, entry) for service, entry in items}


def main(argv: Sequence[str] | None = None) -> int:
    """`outputs FILE [SERVICE]` (to $GITHUB_OUTPUT), `ref FILE SERVICE`, `refs FILE` (print)."""
    parser = argparse.ArgumentParser(prog="images", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    out = sub.add_parser("outputs")
    out.add_argument("file", type=Path)
    out.add_argument("service", nargs="?", help="only this service: name=, digest=, ref=")
    ref = sub.add_parser("ref")
    ref.add_argument("file", type=Path)
    ref.add_argument("service")
    refs = sub.add_parser("refs")
    refs.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        images = load_images(args.file)
    except ImagesFileError as exc:
        print(f"images: {exc}", file=sys.stderr)
        return 2
    if args.cmd == "refs":
        print("\n".join(image.ref for _, image in sorted(images.items())))
        return 0
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
