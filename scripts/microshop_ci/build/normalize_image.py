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
gzip-compressed. Either way the layers written here are uncompressed tars, each checked against
the config's `rootfs.diff_ids` entry first.

The layers the build added (every layer above the base image's `--base-layers`) are rewritten in
one canonical form, because the engines write them differently for the same files: Debian's
Docker 20.10 (graph driver) puts the file type into the mode field and `root` into uname/gname,
Docker 29's containerd differ writes neither (measured by tests/scripts/build/test_docker29.py).
And the classic builder's COPY cache ignores mtimes, so a layer cached from another commit's
build keeps that commit's timestamps. The canonical form: the engine's entry order, PAX format,
permission bits, numeric owners only, every mtime SOURCE_DATE_EPOCH (the Dockerfiles set them so
already), xattrs kept, nothing else. The base image's layers stay byte for byte as loaded (their
timestamp .pyc files depend on the packaged mtimes). So the image ID (the config digest, with
the new diff_ids) is the same on either engine and whatever its cache held.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from microshop_ci.build.image_archive import sha256_file, timestamp, write_layers_archive
from microshop_ci.core.errors import BuildError

# build-time ids and the engine's own version: not content
VOLATILE = ("container", "container_config", "docker_version")
SOURCE_HASH = re.compile(r"\b(COPY|ADD) (dir|file|multi):[0-9a-f]{64}\b")
HEALTHCHECK_STRUCT = re.compile(r"HEALTHCHECK &\{.*\}$")
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


def canonical_layer(layer: Path, epoch: int) -> Path:
    """Rewrite a layer tar in the canonical form (beside it) and return the new file."""
    out = layer.with_name(layer.name + ".canonical")
    with tarfile.open(layer) as src, tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as dst:
        for member in src:
            info = tarfile.TarInfo(member.name)
            info.type, info.linkname = member.type, member.linkname
            info.mode, info.uid, info.gid = member.mode & 0o7777, member.uid, member.gid
            info.devmajor, info.devminor = member.devmajor, member.devminor
            info.mtime = epoch
            info.pax_headers = {
                key: value
                for key, value in sorted(member.pax_headers.items())
                if key.startswith("SCHILY.xattr.")
            }
            if member.isreg():
                info.size = member.size
                dst.addfile(info, src.extractfile(member))
            else:
                dst.addfile(info)
    return out


def canonical_created_by(text: str, healthcheck: object) -> str:
    """A history entry's command as every engine agrees on it: the classic builder's source hash
    in `COPY dir:<hash>` (computed differently by each engine) is dropped, and the HEALTHCHECK it
    prints as a Go struct (its layout differs between engine versions) becomes the config's JSON."""
    text = SOURCE_HASH.sub(r"\1 \2", text)
    if HEALTHCHECK_STRUCT.search(text) and isinstance(healthcheck, dict):
        body = json.dumps(healthcheck, sort_keys=True, separators=(",", ":"))
        text = HEALTHCHECK_STRUCT.sub(lambda _m: f"HEALTHCHECK {body}", text)
    return text


def normalize_config(config: dict[str, Any], epoch: int) -> dict[str, Any]:
    """Return the config with build-time and engine-specific fields replaced or dropped."""
    created = timestamp(epoch)
    clean = {k: v for k, v in config.items() if k not in VOLATILE}
    clean["created"] = created
    # The id of the builder's previous intermediate image (itself timestamped): not content.
    # Zero values (Debian's 20.10 writes `"Tty": false` and the like; Docker 29 leaves them out).
    container = {**config.get("config", {}), "Image": ""}
    clean["config"] = {k: v for k, v in container.items() if v not in (None, False, "", [], {})}
    healthcheck = clean["config"].get("Healthcheck")
    clean["history"] = [
        {**h, "created": created, "created_by": canonical_created_by(h["created_by"], healthcheck)}
        if "created_by" in h
        else {**h, "created": created}
        for h in config.get("history", [])
    ]
    return clean


def normalize(saved: Path, out: Path, tag: str, epoch: int, base_layers: int) -> str:
    """Rewrite a single-image `docker save` archive; return the new image ID.

    The first base_layers layers (the base image's) are kept; the others are made canonical."""
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
        if not 0 <= base_layers <= len(diff_ids):
            raise ValueError(f"--base-layers {base_layers}: the image has {len(diff_ids)} layers")
        layers = [
            uncompressed_layer(root / layer, diff_id)
            for layer, diff_id in zip(manifest[0]["Layers"], diff_ids, strict=True)
        ]
        layers[base_layers:] = [canonical_layer(layer, epoch) for layer in layers[base_layers:]]
        clean = normalize_config(config, epoch)
        clean["rootfs"] = {
            **clean["rootfs"],
            "diff_ids": [f"sha256:{sha256_file(layer)}" for layer in layers],
        }
        body = json.dumps(clean, sort_keys=True, separators=(",", ":"))
        return write_layers_archive(layers, out, tag, body.encode(), epoch)


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop normalize-image --saved FILE --out FILE --tag NAME:TAG --epoch N
    --base-layers N`."""
    parser.add_argument("--saved", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--epoch", type=int, required=True)
    parser.add_argument(
        "--base-layers", type=int, required=True, help="layers of the FROM image, kept as loaded"
    )


def run_command(args: argparse.Namespace) -> int:
    """Normalize the saved image; prints its ID."""
    try:
        print(normalize(args.saved, args.out, args.tag, args.epoch, args.base_layers))
    except (ValueError, OSError, KeyError, tarfile.TarError) as exc:
        raise BuildError(f"normalize_image: {args.saved}: {exc}") from exc
    return 0
