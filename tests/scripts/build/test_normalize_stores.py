"""The build's image normalizer gives one image ID whatever Docker's image store saved."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from microshop_ci.build.normalize_image import main, normalize

EPOCH = 1_700_000_000


def layer_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        data = b"print('hello')\n"
        info = tarfile.TarInfo("app/main.py")
        info.size, info.mtime = len(data), EPOCH
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def config(layer: bytes) -> bytes:
    return json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2026-11-29T23:00:00.123Z",
        "container": "abc", "config": {"Image": "sha256:" + "1" * 64, "User": "65532"},
        "history": [{"created": "2026-11-29T23:00:00Z", "created_by": "COPY"}],
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
    }).encode()  # fmt: skip


def saved(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def classic_save(tmp_path: Path, layer: bytes) -> Path:
    """What Docker's classic (graph driver) store saves: `<id>/layer.tar`, uncompressed."""
    manifest = [{"Config": "cfg.json", "RepoTags": ["x:1"], "Layers": ["aaa/layer.tar"]}]
    return saved(tmp_path / "classic.tar", {
        "cfg.json": config(layer), "aaa/layer.tar": layer,
        "manifest.json": json.dumps(manifest).encode(),
    })  # fmt: skip


def containerd_save(tmp_path: Path, layer: bytes) -> Path:
    """What the containerd image store saves: an OCI layout, gzip-compressed layer blobs."""
    blob = gzip.compress(layer, mtime=0)
    blob_name = f"blobs/sha256/{hashlib.sha256(blob).hexdigest()}"
    cfg = config(layer)
    cfg_name = f"blobs/sha256/{hashlib.sha256(cfg).hexdigest()}"
    manifest = [{"Config": cfg_name, "RepoTags": ["x:1"], "Layers": [blob_name]}]
    return saved(tmp_path / "containerd.tar", {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": b"{}",
        cfg_name: cfg, blob_name: blob, "manifest.json": json.dumps(manifest).encode(),
    })  # fmt: skip


def test_classic_and_containerd_saves_give_the_same_image(tmp_path: Path) -> None:
    layer = layer_tar()
    a = normalize(classic_save(tmp_path, layer), tmp_path / "a.tar", "svc:1", EPOCH)
    b = normalize(containerd_save(tmp_path, layer), tmp_path / "b.tar", "svc:1", EPOCH)
    assert a == b
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    with tarfile.open(tmp_path / "b.tar") as out:
        (manifest,) = json.loads(out.extractfile("manifest.json").read())  # type: ignore[union-attr]
        stored = out.extractfile(manifest["Layers"][0]).read()  # type: ignore[union-attr]
    assert stored == layer  # uncompressed, as docker load of a docker-archive expects


def test_a_layer_that_is_not_its_diff_id_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = layer_tar()
    archive = containerd_save(tmp_path, good)
    # swap the layer for another with the config unchanged
    bad = saved(tmp_path / "bad.tar", {})
    with tarfile.open(archive) as src, tarfile.open(bad, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.startswith("blobs/") and data[:2] == b"\x1f\x8b":
                data = gzip.compress(good + b"\0" * 512, mtime=0)
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    code = main(["--saved", str(bad), "--out", str(tmp_path / "o.tar"), "--tag", "s:1",
                 "--epoch", str(EPOCH)])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"normalize_image: {bad}: ")
    assert "content is not the config's diff_id sha256:" in err
    assert "Traceback" not in err
