"""Write a `docker load` archive for a single-layer image with a deterministic config.

`docker import` stamps the current time into the image config, so the same rootfs gives a new
image ID on every import. Writing the archive ourselves, with `created` taken from
SOURCE_DATE_EPOCH, makes the image ID a pure function of the layer and the config.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def timestamp(epoch: int) -> str:
    """The epoch as image configs and OCI labels write a time: UTC, YYYY-MM-DDTHH:MM:SSZ."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_config(
    diff_id: str, epoch: int, env: list[str], user: str, entrypoint: list[str], comment: str
) -> bytes:
    """Return the canonical JSON of an image config for one layer."""
    created = timestamp(epoch)
    config: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            "Env": env,
            "User": user,
            "WorkingDir": "/home/nonroot" if user else "/",
            "Entrypoint": entrypoint,
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created": created, "created_by": comment}],
    }
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def _add(archive: tarfile.TarFile, name: str, data: bytes, epoch: int) -> None:
    """Add an in-memory file with fixed metadata."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), epoch, 0o644
    archive.addfile(info, io.BytesIO(data))


def write_layers_archive(layers: list[Path], out: Path, tag: str, config: bytes, epoch: int) -> str:
    """Write the docker-archive for layers+config to out and return the image ID (sha256:...)."""
    config_id = hashlib.sha256(config).hexdigest()
    names = [f"{sha256_file(layer)}/layer.tar" for layer in layers]
    manifest = [{"Config": f"{config_id}.json", "RepoTags": [tag], "Layers": names}]
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as archive:
        _add(archive, f"{config_id}.json", config, epoch)
        for layer, name in zip(layers, names, strict=True):
            info = archive.gettarinfo(str(layer), arcname=name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = epoch, 0, 0, "", ""
            with layer.open("rb") as handle:
                archive.addfile(info, handle)
        _add(archive, "manifest.json", json.dumps(manifest).encode(), epoch)
    return f"sha256:{config_id}"


def write_archive(layer: Path, out: Path, tag: str, config: bytes, epoch: int) -> str:
    """Write the docker-archive for one layer+config to out and return the image ID."""
    return write_layers_archive([layer], out, tag, config, epoch)


def write_image(
    layer: Path,
    out: Path,
    tag: str,
    epoch: int,
    *,
    env: list[str],
    user: str,
    entrypoint: list[str],
    comment: str,
) -> str:
    """Write the docker-archive of a one-layer image with its config; return the image ID."""
    config = image_config(sha256_file(layer), epoch, env, user, entrypoint, comment)
    return write_archive(layer, out, tag, config, epoch)
