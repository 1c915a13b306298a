"""The build context of one service: its locked requirements with hashes, and their wheels.

requirements.txt = `uv export --locked` of the service (every dependency pinned with its sha256
from uv.lock) + the service's own wheel (`uv build`) with its sha256. The wheels are downloaded
against those hashes inside the builder base image (same interpreter and platform tags as the
Dockerfiles' build stage), cached by requirements hash outside the clone. The only other file is
slim.py (build/slim.py), which the build stage runs on what it installed. `docker build --network
none` installs only what the lock pins.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.build import slim
from microshop_ci.build.image_archive import sha256_file
from microshop_ci.core.cache import cache_root
from microshop_ci.core.errors import BuildError
from microshop_ci.core.log import log
from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.core.tools import ToolError, run_tool, uv_binary

PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy")
UV_EXPORT_FAILED = "uv.lock does not match the pyproject files (uv export --locked failed)"
UV_REQUIREMENTS_FORMAT = ("--format", "requirements-txt", "--no-header")


@dataclass(frozen=True)
class Bases:
    """The builder (pip download, build stage) and the runtime base of the images."""

    builder: str
    runtime: str


def wheel_cache_key(requirements: str) -> str:
    """16 hex digits of the requirements' sha256: the wheel folder shared by equal exports."""
    return hashlib.sha256(requirements.encode()).hexdigest()[:16]


def service_requirement(service: str, wheel: Path) -> str:
    """The hashed requirement line of a service's own wheel (NAME-VERSION-...whl)."""
    version = wheel.name.split("-")[1]
    return f"{service}=={version} \\\n    --hash=sha256:{sha256_file(wheel)}\n"


def pip_download_argv(
    wheelhouse: Path, builder: str, env: Mapping[str, str], uid_gid: str
) -> list[str]:
    """`docker run` of pip download in the builder image, against the hashes, into wheelhouse.

    The host's CA bundle (PIP_CERT / SSL_CERT_FILE) goes in read-only, for TLS-inspecting
    proxies; the proxy variables pass through by name.
    """
    ca = env.get("PIP_CERT") or env.get("SSL_CERT_FILE") or ""
    tls = (
        ["-v", f"{ca}:/etc/ssl/host-ca.pem:ro", "-e", "PIP_CERT=/etc/ssl/host-ca.pem"]
        if ca and Path(ca).is_file()
        else []
    )
    proxies = [arg for name in PROXY_VARS for arg in ("-e", name)]
    return [
        "docker", "run", "--rm", "--user", uid_gid, "-e", "HOME=/tmp",
        "-v", f"{wheelhouse}:/wheels", *tls, *proxies,
        "--entrypoint", "python3", builder, "-m", "pip", "download", "--quiet",
        "--no-cache-dir", "--disable-pip-version-check", "--only-binary=:all:",
        "--require-hashes", "--no-deps", "--dest", "/wheels", "-r", "/wheels/requirements.txt",
    ]  # fmt: skip


def _uv(service: str, epoch: int, what: str, *args: str) -> str:
    """Run uv in the repository (wheels stamped with the epoch); a failure is named by what."""
    try:
        env = {"SOURCE_DATE_EPOCH": str(epoch)}
        return run_tool([uv_binary(), *args], cwd=REPO_ROOT, env=env).stdout
    except ToolError as exc:
        print(str(exc), file=sys.stderr)
        raise BuildError(f"{service}: {what}") from None


def _download_wheels(service: str, requirements: Path, bases: Bases) -> Path:
    """The wheels of the locked requirements, downloaded once per requirements hash."""
    wheelhouse = cache_root() / "wheels" / wheel_cache_key(requirements.read_text())
    if (wheelhouse / ".complete").is_file():
        return wheelhouse
    log(f"{service}: downloading locked wheels into {wheelhouse}")
    shutil.rmtree(wheelhouse, ignore_errors=True)
    wheelhouse.mkdir(parents=True)
    shutil.copyfile(requirements, wheelhouse / "requirements.txt")
    argv = pip_download_argv(wheelhouse, bases.builder, os.environ, f"{os.getuid()}:{os.getgid()}")
    try:
        run_tool(argv)
    except ToolError as exc:
        print(str(exc), file=sys.stderr)
        raise BuildError(f"{service}: pip download of the locked wheels failed") from None
    (wheelhouse / ".complete").touch()
    return wheelhouse


def prepare_context(service: str, context: Path, bases: Bases, epoch: int) -> None:
    """Write the build context of one service: requirements.txt (hashed) + wheels/."""
    shutil.rmtree(context, ignore_errors=True)
    (context / "wheels").mkdir(parents=True)
    requirements = context / "requirements.txt"
    export = ("export", "--locked", "--package", service, "--no-dev", "--no-emit-workspace")
    requirements.write_text(
        _uv(service, epoch, UV_EXPORT_FAILED, *export, *UV_REQUIREMENTS_FORMAT, "--quiet")
    )
    for wheel in sorted(_download_wheels(service, requirements, bases).glob("*.whl")):
        shutil.copyfile(wheel, context / "wheels" / wheel.name)
    wheel_dir = str(context / "wheels")
    build = ("build", "--wheel", "--package", service, "--out-dir", wheel_dir, "--quiet")
    _uv(service, epoch, "uv build of the service wheel failed", *build)
    own = sorted((context / "wheels").glob(f"{service.replace('-', '_')}-*.whl"))
    if len(own) != 1:
        raise BuildError(f"{service}: uv build left {len(own)} service wheels in {context}")
    with requirements.open("a") as handle:
        handle.write(service_requirement(service, own[0]))
    shutil.copyfile(slim.__file__, context / "slim.py")
    for path in (context, *context.rglob("*")):
        os.utime(path, (epoch, epoch), follow_symlinks=False)
