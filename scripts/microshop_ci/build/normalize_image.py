"""Make a legacy-builder image's config reproducible: timestamps from SOURCE_DATE_EPOCH.

Docker's classic builder (the only one on Debian's docker.io: no buildx/BuildKit) writes the
build time into `created` and every history entry, the id of its last build container into
`container`/`container_config`, and its previous intermediate image into `config.Image`. The
layers themselves are reproducible (fixed mtimes, sorted tar), so rewriting just those config
fields makes the image ID, and the pushed digest, a pure function of the commit. Reads a
`docker save` archive, writes one for `docker load`.

Independent of Docker's image store: the classic store (graph drivers) saves uncompressed layer
tars named `<id>/layer.tar`; the containerd image store (Docker 29's default on fresh installs)
saves an OCI layout whose manifest.json names `blobs/sha256/<hex>` and whose layers may be
gzip-compressed. Either way the layers written here are uncompressed tars whose sha256 is the
config's `rootfs.diff_ids` entry, checked: the image ID (the config digest) is the same for both.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from microshop_ci.build.image_archive import sha256_file, timestamp, write_layers_archive

VOLATILE = ("container", "container_config")
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def uncompressed_layer(layer: Path, diff_id: str) -> Path:
    """The layer as an uncompressed tar (gunzipped beside it if needed), checked against diff_id."""
    with layer.open("rb") as handle:
        magic = handle.read(4)
    if magic.startswith(ZSTD_MAGIC):
        raise ValueError(f"{layer.name}: zstd-compressed layer (not supported; use gzip or none)")
    if magic.startswith(GZIP_MAGIC):
        plain = layer.with_name(layer.name + ".tar")
        with gzip.open(layer, "rb") as src, plain.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        layer = plain
    if f"sha256:{sha256_file(layer)}" != diff_id:
        raise ValueError(f"{layer.name}: content is not the config's diff_id {diff_id}")
    return layer


def normalize_config(config: dict[str, Any], epoch: int) -> dict[str, Any]:
    """Return the config with build-time fields replaced by the epoch (or dropped)."""
    created = timestamp(epoch)
    clean = {k: v for k, v in config.items() if k not in VOLATILE}
    clean["created"] = created
    clean["history"] = [{**h, "created": created} for h in config.get("history", [])]
    # The id of the builder's previous intermediate image (itself timestamped): not content.
    clean["config"] = {**config.get("config", {}), "Image": ""}
    return clean


def normalize(saved: Path, out: Path, tag: str, epoch: int) -> str:
    """Rewrite a single-image `docker save` archive; return the new image ID."""
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(saved) as archive:
        archive.extractall(tmp, filter="data")
        root = Path(tmp)
        manifest = json.loads((root / "manifest.json").read_text())
        if len(manifest) != 1:
            raise ValueError(f"{saved}: expected one image, found {len(manifest)}")
        config = json.loads((root / manifest[0]["Config"]).read_text())
        diff_ids = config.get("rootfs", {}).get("diff_ids", [])
        if len(diff_ids) != len(manifest[0]["Layers"]):
            raise ValueError(
                f"{saved}: {len(manifest[0]['Layers'])} layers, {len(diff_ids)} diff_ids"
            )
        layers = [
            uncompressed_layer(root / layer, diff_id)
            for layer, diff_id in zip(manifest[0]["Layers"], diff_ids, strict=True)
        ]
        body = json.dumps(normalize_config(config, epoch), sort_keys=True, separators=(",", ":"))
        return write_layers_archive(layers, out, tag, body.encode(), epoch)


def main(argv: list[str] | None = None) -> int:
    """CLI: normalize_image --saved FILE --out FILE --tag NAME:TAG --epoch N; prints the ID."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--saved", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--epoch", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        print(normalize(args.saved, args.out, args.tag, args.epoch))
    except (ValueError, OSError, KeyError, tarfile.TarError) as exc:
        print(f"normalize_image: {args.saved}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
