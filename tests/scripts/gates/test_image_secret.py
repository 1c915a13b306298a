"""trivy-secret scans images too: a key baked into an image layer fails the gate."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from tests.scripts.gates.conftest import private_key_pem, run_gates


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def docker_archive(path: Path, files: dict[str, bytes]) -> Path:
    """A one-layer image in `docker save` format, written without a Docker engine."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as archive:
        for name, data in files.items():
            _add(archive, name, data)
    layer_bytes = layer.getvalue()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"User": "65532"},
        "rootfs": {
            "type": "layers",
            "diff_ids": [f"sha256:{hashlib.sha256(layer_bytes).hexdigest()}"],
        },
    }
    manifest = [{"Config": "config.json", "RepoTags": ["bad:secret"], "Layers": ["layer.tar"]}]
    with tarfile.open(path, mode="w") as archive:
        _add(archive, "layer.tar", layer_bytes)
        _add(archive, "config.json", json.dumps(config).encode())
        _add(archive, "manifest.json", json.dumps(manifest).encode())
    return path


def test_private_key_in_an_image_fails_the_secret_gate(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "README.md").write_text("nothing secret here\n")
    image = docker_archive(tmp_path / "bad.tar", {"app/deploy-key.pem": private_key_pem()})
    run = run_gates(
        tmp_path / "reports", "--root", str(root), "--only", "trivy-secret", "--image", str(image)
    )
    assert run.code == 1, run.stderr
    (finding,) = run.gate("trivy-secret")["blocking"]
    assert finding["rule_id"] == "private-key"
    assert finding["target"] == f"{image}:/app/deploy-key.pem"
    assert f"private-key in {image}:/app/deploy-key.pem" in run.markdown
