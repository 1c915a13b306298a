"""Make runtime_wrapper dockerd's default runtime where the machine lacks a capability.

Used by microshop_ci.bootstrap.dockerd (scripts/dockerd-up) with the system Python (before the
locked environment exists). Where the bounding set has every capability runc asks for (GitHub's
runners), it does nothing. Otherwise it copies the wrapper into the user cache under its content
hash and names it in daemon.json as `microshop-runc`, the default runtime; dockerd reads that at
start and on SIGHUP.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from microshop_ci.bootstrap.runtime_wrapper import missing_capabilities

RUNTIME_NAME = "microshop-runc"
WRAPPER = Path(__file__).with_name("runtime_wrapper.py")


def install_wrapper(cache: Path) -> Path:
    """Copy the wrapper to cache/runtime/HASH/microshop-runc (executable) and return the path."""
    text = WRAPPER.read_bytes()
    target = cache / "runtime" / hashlib.sha256(text).hexdigest()[:16] / RUNTIME_NAME
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        partial.write_bytes(text)
        partial.chmod(0o755)
        partial.replace(target)
    return target


def configure(daemon_json: Path, wrapper: Path) -> bool:
    """Name the wrapper as the default runtime in daemon_json; True if the file changed."""
    try:
        config = json.loads(daemon_json.read_text()) if daemon_json.exists() else {}
    except json.JSONDecodeError as err:
        raise SystemExit(
            f"error: {daemon_json} is not valid JSON ({err}); fix or remove it"
        ) from None
    wanted = dict(config)
    wanted["runtimes"] = {**config.get("runtimes", {}), RUNTIME_NAME: {"path": str(wrapper)}}
    wanted["default-runtime"] = RUNTIME_NAME
    if wanted == config:
        return False
    daemon_json.parent.mkdir(parents=True, exist_ok=True)
    daemon_json.write_text(json.dumps(wanted, indent=2) + "\n")
    return True


def needs_reload(daemon_json: Path, cache: Path, status: Path) -> bool:
    """Configure the runtime where a capability is missing; True if dockerd must re-read it."""
    if not missing_capabilities(status.read_text()):
        return False
    return configure(daemon_json, install_wrapper(cache))
