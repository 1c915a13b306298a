"""Run compose.yaml's api-service and client-service here: local images, FerretDB for MongoDB.

No MongoDB image can be pulled on this machine and `docker compose` is not installed, so the two
services are started with `docker run` on a user-defined network, with the hardening, user,
environment and secrets read from compose.yaml itself (one source of truth). FerretDB runs on
the host and listens on the network's gateway address; MONGODB_URI points there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from microshop_ci.bootstrap import dockerd
from microshop_ci.build import images as build_images
from microshop_ci.core import registry
from microshop_ci.core.images import read_images
from microshop_ci.core.paths import REPO_ROOT, REPORTS_DIR
from microshop_ci.core.tools import ToolError, docker, pinned_tool

NETWORK = "microshop-local"
SERVICES = ("api-service", "client-service")
RUNTIME_UID = 65532
MONGO_UID = 999  # the mongodb user of the official mongo image


@dataclass(frozen=True)
class Paths:
    """Where compose-local keeps its state (all git-ignored)."""

    repo: Path

    @property
    def secrets(self) -> Path:
        """The secret files compose.yaml names."""
        return self.repo / ".local" / "secrets"

    @property
    def state(self) -> Path:
        """FerretDB data, pid and log."""
        return self.repo / ".local" / "compose"


def write_secrets(paths: Paths) -> None:
    """Create the secret files compose.yaml expects, once; readable by the runtime user only."""
    paths.secrets.mkdir(parents=True, exist_ok=True)
    # Owner only: bind mounts expose each file itself, so the containers need no access here.
    os.chmod(paths.secrets, 0o700)
    wanted: dict[str, bytes] = {
        "session_secret": secrets.token_urlsafe(48).encode(),
        "mongo_root_password": secrets.token_urlsafe(24).encode(),
    }
    key = ec.generate_private_key(ec.SECP256R1())
    wanted["jwt_private_key.pem"] = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for name, content in wanted.items():
        path = paths.secrets / name
        if not path.exists():
            path.write_bytes(content)
        os.chmod(path, 0o400)
        if os.geteuid() == 0:
            owner = MONGO_UID if name == "mongo_root_password" else RUNTIME_UID
            os.chown(path, owner, owner)


def run_args(name: str, spec: dict[str, Any], compose: dict[str, Any], paths: Paths) -> list[str]:
    """Translate one compose service into `docker run` flags (hardening, user, env, secrets)."""
    args = ["--name", f"microshop-{name}", "--network", NETWORK, "--network-alias", name, "-d"]
    if spec.get("read_only"):
        args.append("--read-only")
    args += ["--user", str(spec["user"])]
    args += [f"--cap-drop={cap}" for cap in spec.get("cap_drop", [])]
    args += [f"--security-opt={opt}" for opt in spec.get("security_opt", [])]
    args += [f"--tmpfs={mount}" for mount in spec.get("tmpfs", [])]
    for secret in spec.get("secrets", []):
        source = (paths.repo / compose["secrets"][secret]["file"]).resolve()
        args += ["-v", f"{source}:/run/secrets/{secret}:ro"]
    for port in spec.get("ports", []):
        args += ["-p", str(port)]
    return args


def environment(spec: dict[str, Any], overrides: dict[str, str]) -> list[str]:
    """The service's literal environment from compose.yaml, with variables resolved here."""
    env: list[str] = []
    for key, value in spec.get("environment", {}).items():
        text = overrides.get(key, str(value))
        if text.startswith("${"):
            # As compose does: the shell's value, else the ${VAR:-default}, else empty.
            name, sep, default = text[2:].rstrip("}").partition(":-")
            name = name.split(":?", 1)[0]
            text = os.environ.get(name, default if sep else "")
        env += ["-e", f"{key}={text}"]
    return env


def start_ferretdb(paths: Paths, ferretdb: str, address: str) -> None:
    """Start FerretDB (SQLite) on the host, listening on the network gateway, unless it runs."""
    pidfile = paths.state / "ferretdb.pid"
    if pidfile.exists() and Path(f"/proc/{pidfile.read_text().strip()}").exists():
        return
    data = paths.state / "ferretdb"
    data.mkdir(parents=True, exist_ok=True)
    log = (paths.state / "ferretdb.log").open("ab")
    proc = subprocess.Popen(
        [
            ferretdb,
            "--handler=sqlite",
            f"--sqlite-url=file:{data}/",
            f"--state-dir={paths.state}",
            "--telemetry=disable",
            "--debug-addr=-",
            f"--listen-addr={address}",
            "--log-level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    pidfile.write_text(str(proc.pid))


def wait_healthy(container: str, timeout: float = 90) -> None:
    """Wait until Docker reports the container healthy (its image's HEALTHCHECK)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = json.loads(docker("inspect", "-f", "{{json .State}}", container))
        if not state["Running"]:
            raise ToolError(f"{container} exited: {docker('logs', container, check=False)}")
        if state.get("Health", {}).get("Status") == "healthy":
            return
        time.sleep(1)
    raise ToolError(f"{container} is not healthy after {timeout:.0f} s")


def up(
    paths: Paths,
    images: dict[str, str],
    ferretdb: str,
    overrides: dict[str, str] | None = None,
) -> None:
    """Start FerretDB and both services; wait until both are healthy.

    overrides replace compose.yaml's value of an environment variable (COOKIE_SECURE=false).
    """
    compose = yaml.safe_load((paths.repo / "compose.yaml").read_text())
    if not docker("network", "ls", "-q", "-f", f"name=^{NETWORK}$"):
        docker("network", "create", NETWORK)
    gateway = docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", NETWORK)
    start_ferretdb(paths, ferretdb, f"{gateway}:27017")
    write_secrets(paths)
    overrides = {**(overrides or {}), "MONGODB_URI": f"mongodb://{gateway}:27017/"}
    for name in SERVICES:
        spec = compose["services"][name]
        docker("rm", "-f", f"microshop-{name}", check=False)
        docker(
            "run",
            *run_args(name, spec, compose, paths),
            *environment(spec, overrides),
            images[name],
        )
        wait_healthy(f"microshop-{name}")
        print(f"{name}: healthy ({images[name]})")


def down(paths: Paths) -> None:
    """Remove the containers, stop FerretDB, remove the network (data and secrets are kept)."""
    for name in SERVICES:
        docker("rm", "-f", f"microshop-{name}", check=False)
    pidfile = paths.state / "ferretdb.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
        pidfile.unlink()
    docker("network", "rm", NETWORK, check=False)


def ensure_images(images_file: Path) -> None:
    """Without an images file, build and push both services first (the local registry, started
    if none answers), as scripts/build-images --push --out FILE does."""
    if images_file.is_file():
        return
    print(registry.up(registry.address(), registry.data_dir()), file=sys.stderr)
    options = build_images.Options(build_images.all_services(), push=True, out=images_file)
    build_images.build_all(options, os.environ)


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop compose up [--images FILE] [--ferretdb BIN] | down`."""
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument(
        "--images",
        type=Path,
        default=REPORTS_DIR / "images.json",
        help="images file (service -> ref by digest); built and pushed first when missing",
    )
    parser.add_argument("--ferretdb", help="FerretDB binary (default: scripts/tool ferretdb)")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT)


def run_command(args: argparse.Namespace) -> int:
    """Start the shop here, or remove it."""
    paths = Paths(args.repo.resolve())
    if args.action == "down":
        down(paths)
        return 0
    dockerd.ensure(os.environ)
    ensure_images(args.images)
    records = read_images(args.images, require=SERVICES)
    images = {name: records[name].image.ref for name in SERVICES}
    try:
        up(paths, images, args.ferretdb or pinned_tool("ferretdb"))
    except OSError as err:
        raise ToolError(str(err)) from err
    return 0
