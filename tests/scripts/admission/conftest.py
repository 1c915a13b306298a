"""Real parts for the Kubernetes tests: a local OCI registry with signed and unsigned images."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port, tool_path, wait_for_port


@dataclass(frozen=True)
class Registry:
    """A running registry and what was pushed to it."""

    host: str
    cosign_pub: Path
    other_pub: Path
    signed: dict[str, str]  # service -> NAME@sha256 signed with our key
    unsigned: str
    other_key_signed: str
    tagged: str  # a signed image referenced by tag


def _push(host: str, repo: str, content: str, tmp: Path) -> str:
    """Push a one-file random image with crane; return NAME@sha256:..."""
    layer = tmp / f"{repo.replace('/', '_')}.tar"
    data = content.encode()
    with tarfile.open(layer, "w") as tar:
        info = tarfile.TarInfo("content.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    result = subprocess.run(
        [tool_path("crane"), "append", "--insecure", "-f", str(layer), "-t", f"{host}/{repo}:v1"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def _keypair(directory: Path) -> tuple[Path, Path]:
    directory.mkdir()
    subprocess.run(
        [tool_path("cosign"), "generate-key-pair"],
        cwd=directory, env={**os.environ, "COSIGN_PASSWORD": ""},
        capture_output=True, check=True,
    )  # fmt: skip
    return directory / "cosign.key", directory / "cosign.pub"


def _sign(key: Path, ref: str) -> None:
    """Legacy .sig signature (what Kyverno's type Cosign reads), offline."""
    subprocess.run(
        [tool_path("cosign"), "sign", "--key", str(key), "--tlog-upload=false",
         "--use-signing-config=false", "--new-bundle-format=false", "--allow-http-registry",
         "--yes", ref],
        env={**os.environ, "COSIGN_PASSWORD": ""}, capture_output=True, check=True,
    )  # fmt: skip


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The pinned distribution registry on 127.0.0.1 with our test images, signed or not."""
    tmp = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = tmp / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (tmp / "registry.log").open("wb")
    proc = subprocess.Popen([tool_path("registry"), "serve", str(config)], stdout=log, stderr=log)
    try:
        wait_for_port(port, proc, "registry")
        host = f"127.0.0.1:{port}"
        key, pub = _keypair(tmp / "ours")
        other_key, other_pub = _keypair(tmp / "other")
        token = os.urandom(8).hex()
        signed = {s: _push(host, s, f"{s} {token}", tmp) for s in ("api-service", "client-service")}
        for ref in signed.values():
            _sign(key, ref)
        unsigned = _push(host, "unsigned", f"unsigned {token}", tmp)
        other = _push(host, "other-key", f"other {token}", tmp)
        _sign(other_key, other)
        yield Registry(
            host, pub, other_pub, signed, unsigned, other,
            signed["api-service"].split("@")[0] + ":v1",
        )  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
