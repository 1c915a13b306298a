"""The build's image normalizer gives one image ID whatever Docker's image store saved."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from microshop_ci.build.normalize_image import normalize, normalize_config
from microshop_ci.cli import main as microshop

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
    a = normalize(classic_save(tmp_path, layer), tmp_path / "a.tar", "svc:1", EPOCH, 1)
    b = normalize(containerd_save(tmp_path, layer), tmp_path / "b.tar", "svc:1", EPOCH, 1)
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
    code = microshop(["normalize-image", "--saved", str(bad), "--out", str(tmp_path / "o.tar"),
                      "--tag", "s:1", "--epoch", str(EPOCH), "--base-layers", "1"])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: normalize_image: {bad}: ")
    assert "content is not the config's diff_id sha256:" in err
    assert "Traceback" not in err


def engine_layer(*, graph_driver: bool, mtime: int) -> bytes:
    """The same two entries as each engine's differ writes them (measured on Docker 20.10's
    overlay2 and Docker 29's containerd store): 20.10 puts the file type into the mode field and
    `root` into uname/gname; a layer reused from the COPY cache keeps another build's mtime."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in (("usr/", None), ("usr/app.py", b"print('hello')\n")):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE if data is None else tarfile.REGTYPE
            info.mode, info.mtime = (0o755 if data is None else 0o644), mtime
            info.uname = info.gname = "root" if graph_driver else ""
            info.size = len(data or b"")
            tar.addfile(info, io.BytesIO(data) if data else None)
    raw = bytearray(buf.getvalue())
    if graph_driver:  # S_IFDIR / S_IFREG in the mode field, as Go's FileInfoHeader writes it
        for offset, mode in ((0, b"0040755\0"), (512, b"0100644\0")):
            raw[offset + 100 : offset + 108] = mode
            raw[offset + 148 : offset + 156] = b" " * 8
            raw[offset + 148 : offset + 156] = b"%06o\0 " % sum(raw[offset : offset + 512])
    return bytes(raw)


def members(layer: bytes) -> list[tuple[str, int, str, str, int]]:
    """(name, mode, uname, gname, mtime) of each entry of a layer tar."""
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        return [(m.name, m.mode, m.uname, m.gname, int(m.mtime)) for m in tar.getmembers()]


def two_layer_save(tmp_path: Path, name: str, base: bytes, top: bytes) -> Path:
    """A classic-store save of a base layer and a layer the build added."""
    cfg = json.loads(config(base))
    cfg["rootfs"]["diff_ids"].append(f"sha256:{hashlib.sha256(top).hexdigest()}")
    manifest = [
        {"Config": "cfg.json", "RepoTags": ["x:1"], "Layers": ["b/layer.tar", "t/layer.tar"]}
    ]
    return saved(tmp_path / name, {
        "cfg.json": json.dumps(cfg).encode(), "b/layer.tar": base, "t/layer.tar": top,
        "manifest.json": json.dumps(manifest).encode(),
    })  # fmt: skip


def test_the_layers_the_build_added_are_the_same_bytes_from_either_engine(tmp_path: Path) -> None:
    base = layer_tar()
    graph = two_layer_save(
        tmp_path, "g.tar", base, engine_layer(graph_driver=True, mtime=EPOCH - 9)
    )
    snap = two_layer_save(tmp_path, "s.tar", base, engine_layer(graph_driver=False, mtime=EPOCH))
    with tarfile.open(graph) as archive:  # the fixture really differs in mode, owner names, time
        graph_top = members(archive.extractfile("t/layer.tar").read())  # type: ignore[union-attr]
    assert graph_top[1] == ("usr/app.py", 0o100644, "root", "root", EPOCH - 9)
    a = normalize(graph, tmp_path / "a.tar", "svc:1", EPOCH, 1)
    b = normalize(snap, tmp_path / "b.tar", "svc:1", EPOCH, 1)
    assert a == b
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    with tarfile.open(tmp_path / "a.tar") as out:
        (manifest,) = json.loads(out.extractfile("manifest.json").read())  # type: ignore[union-attr]
        kept = out.extractfile(manifest["Layers"][0]).read()  # type: ignore[union-attr]
        top = members(out.extractfile(manifest["Layers"][1]).read())  # type: ignore[union-attr]
        cfg = json.loads(out.extractfile(manifest["Config"]).read())  # type: ignore[union-attr]
    assert kept == base  # the base image's layer, byte for byte
    assert top == [("usr", 0o755, "", "", EPOCH), ("usr/app.py", 0o644, "", "", EPOCH)]
    assert cfg["rootfs"]["diff_ids"][0] == f"sha256:{hashlib.sha256(base).hexdigest()}"


def test_base_layers_beyond_the_image_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = classic_save(tmp_path, layer_tar())
    code = microshop(["normalize-image", "--saved", str(archive), "--out", str(tmp_path / "o.tar"),
                      "--tag", "s:1", "--epoch", str(EPOCH), "--base-layers", "2"])  # fmt: skip
    assert code == 1
    assert "--base-layers 2: the image has 1 layers" in capsys.readouterr().err


def test_config_fields_each_engine_writes_its_own_way_are_normalized() -> None:
    # as measured: Debian's Docker 20.10 vs Docker 29 (containerd store), same Dockerfile
    health = {"Test": ["CMD", "python3", "-m", "svc.healthcheck"], "Interval": 10_000_000_000,
              "Timeout": 5_000_000_000, "StartPeriod": 15_000_000_000, "Retries": 3}  # fmt: skip
    debian = {
        "docker_version": "20.10.24+dfsg1",
        "config": {"Tty": False, "Hostname": "", "Cmd": None, "User": "65532",
                   "Healthcheck": health},
        "history": [
            {"created": "x", "created_by": "/bin/sh -c #(nop) COPY dir:" + "a" * 64 + " in / "},
            {"created": "x", "empty_layer": True, "created_by": '/bin/sh -c #(nop)  HEALTHCHECK'
             ' &{["CMD" "python3" "-m" "svc.healthcheck"] "10s" "5s" "15s" \'\\x03\'}'},
        ],
    }  # fmt: skip
    moby = {
        "config": {"User": "65532", "Healthcheck": health},
        "history": [
            {"created": "y", "created_by": "/bin/sh -c #(nop) COPY dir:" + "b" * 64 + " in / "},
            {"created": "y", "empty_layer": True, "created_by": "/bin/sh -c #(nop)  HEALTHCHECK"
             " &{Test:[CMD python3 -m svc.healthcheck] Interval:10s Timeout:5s StartPeriod:15s"
             " StartInterval:0s Retries:3}"},
        ],
    }  # fmt: skip
    a, b = normalize_config(debian, EPOCH), normalize_config(moby, EPOCH)
    assert a == b
    assert a["config"] == {"User": "65532", "Healthcheck": health}  # zero values dropped
    assert a["history"][0]["created_by"] == "/bin/sh -c #(nop) COPY dir in / "
    assert a["history"][1]["created_by"].endswith(
        'HEALTHCHECK {"Interval":10000000000,"Retries":3,"StartPeriod":15000000000,'
        '"Test":["CMD","python3","-m","svc.healthcheck"],"Timeout":5000000000}'
    )
