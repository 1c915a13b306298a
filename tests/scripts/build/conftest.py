"""Session fixtures for the image and supply-chain tests: images built, pushed and signed once."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import REPO_ROOT

SCRIPTS = REPO_ROOT / "scripts"
SERVICES = ("api-service", "client-service")


def run(
    *args: str | Path, check: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its output when check is set and it fails."""
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, timeout=timeout
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stderr[-4000:]}"
        )
    return result


def executable(path: Path, body: str) -> str:
    """Write a stand-in program (a shell script) at path; return its path."""
    path.write_text(body)
    path.chmod(0o755)
    return str(path)


@dataclass(frozen=True)
class ChainRun:
    """The outcome of one scripted run: build, push, SBOM, sign, attest, verify."""

    images: dict[str, dict[str, object]]
    images_file: Path
    out_dir: Path
    key_dir: Path
    stderr: str


@pytest.fixture(scope="session")
def docker() -> str:
    """The Docker engine (started by scripts/dockerd-up), or a clear failure."""
    if shutil.which("docker") is None:
        pytest.fail("docker is not installed: run scripts/setup")
    run(SCRIPTS / "dockerd-up")
    return "docker"


@pytest.fixture(scope="session")
def registry(docker: str) -> Iterator[str]:
    """The local OCI registry (scripts/registry up); stopped after if this test run started it."""
    was_up = run(SCRIPTS / "registry", "status", check=False).returncode == 0
    run(SCRIPTS / "registry", "up")
    yield run(SCRIPTS / "registry", "addr").stdout.strip()
    if not was_up:
        run(SCRIPTS / "registry", "down", check=False)


@pytest.fixture(scope="session")
def chain(registry: str, tmp_path_factory: pytest.TempPathFactory) -> ChainRun:
    """The whole local chain, scripted as the workflows run it, with a key pair of this test run."""
    work = tmp_path_factory.mktemp("chain")
    images_file = work / "images.json"
    run(SCRIPTS / "build-images", "--push", "--out", images_file)
    result = run(
        SCRIPTS / "supply-chain",
        "--mode",
        "key",
        "--images",
        images_file,
        "--out-dir",
        work / "out",
        "--key-dir",
        work / "keys",
    )
    images = json.loads(images_file.read_text())
    return ChainRun(images, images_file, work / "out", work / "keys", result.stderr)


@pytest.fixture(scope="session")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files the containers read as secrets: a JWT signing key and a session secret."""
    folder = tmp_path_factory.mktemp("secrets")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (folder / "jwt.pem").write_bytes(pem)
    (folder / "session_secret").write_text(secrets.token_urlsafe(32))
    folder.chmod(0o755)
    for item in folder.iterdir():
        item.chmod(0o644)  # the container user 65532 must read them (test-only files)
    return folder
