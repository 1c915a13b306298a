"""The local OCI registry (CNCF distribution, built by scripts/tool registry): `scripts/registry`.

Images are pushed here by digest; signatures and attestations are stored next to them. Data lives
in the git-ignored .local/registry/ (MICROSHOP_REGISTRY_DATA), the address is MICROSHOP_REGISTRY
(default 127.0.0.1:5000).

    microshop registry up      start it unless something already answers
    microshop registry down    stop the registry this module started (data kept)
    microshop registry addr    print HOST:PORT
    microshop registry status  exit 0 if it answers /v2/
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from microshop_ci.core.errors import MicroshopError
from microshop_ci.core.paths import LOCAL_DIR
from microshop_ci.core.tools import ToolError, pinned_tool

DEFAULT_ADDRESS = "127.0.0.1:5000"
LOOPBACK = re.compile(r"^(127\.0\.0\.1|localhost):[0-9]+$")
START_POLLS, POLL_SECONDS = 300, 0.2  # 60 s: a loaded 2-core machine starts it slowly
STOP_POLLS = 100  # 20 s for a graceful stop, then SIGKILL


class RegistryError(MicroshopError):
    """The registry cannot be started here; the message says why and where its log is."""


def address() -> str:
    """HOST:PORT of the registry (MICROSHOP_REGISTRY, empty or unset: 127.0.0.1:5000)."""
    return os.environ.get("MICROSHOP_REGISTRY") or DEFAULT_ADDRESS


def data_dir() -> Path:
    """Where its storage, config, pid file and log live."""
    return Path(os.environ.get("MICROSHOP_REGISTRY_DATA") or LOCAL_DIR / "registry")


def answers(addr: str) -> bool:
    """True when something answers GET /v2/ at addr (host:port) over HTTP, 401 included."""
    # direct, never through a proxy; the standard library only, so that the release jobs that hold
    # a push token run this with the system Python and install nothing
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{addr}/v2/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # 401 and the like: a registry answered
    except (OSError, ValueError, http.client.HTTPException):
        return False


def config(addr: str, data: Path) -> str:
    """The registry's configuration: filesystem storage under data, deletes allowed."""
    return (
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {data / 'storage'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {addr}\n"
    )


def up(addr: str, data: Path) -> str:
    """Start the registry unless one answers; returns what happened, RegistryError if it fails."""
    if answers(addr):
        return f"registry answers on {addr}"
    if not LOOPBACK.match(addr):
        raise RegistryError(
            f"scripts/registry starts only a loopback registry; MICROSHOP_REGISTRY={addr}"
        )
    try:
        binary = pinned_tool("registry")
    except ToolError as exc:
        raise RegistryError(str(exc)) from None
    (data / "storage").mkdir(parents=True, exist_ok=True)
    (data / "config.yml").write_text(config(addr, data))
    log = data / "registry.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # nosec B603 -- the pinned registry binary, no shell
            [binary, "serve", str(data / "config.yml")],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # it outlives this process and the step's process group
        )
    (data / "registry.pid").write_text(f"{proc.pid}\n")
    for _ in range(START_POLLS):
        if answers(addr):
            return f"registry up on {addr} (data: {data})"
        if proc.poll() is not None:
            break
        time.sleep(POLL_SECONDS)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    raise RegistryError(f"registry did not answer on {addr} (log: {log})\n{tail}".rstrip())


def _serving(pid: int) -> bool:
    """True while pid is a live (not zombie) `registry serve` process."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return len(cmdline) > 1 and cmdline[1] == b"serve" and state != "Z"


def down(data: Path) -> str:
    """Stop the registry `up` started (by its pid file) and wait until it has exited, so that
    the next job or test can bind its address; the data stays."""
    pidfile = data / "registry.pid"
    if not pidfile.is_file():
        return "no registry started by scripts/registry"
    pid = int(pidfile.read_text().strip() or 0)
    pidfile.unlink()
    if not _serving(pid):  # ended, or the pid now belongs to another program
        return f"registry (pid {pid}) was not running"
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    for _ in range(STOP_POLLS):
        if not _serving(pid):
            return f"registry stopped (pid {pid})"
        time.sleep(POLL_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    waited = STOP_POLLS * POLL_SECONDS
    return f"registry killed (pid {pid}): still running {waited:.0f} s after SIGTERM"


def _log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop registry up | down | addr | status`."""
    parser.add_argument("action", choices=("up", "down", "addr", "status"))


def run_command(args: argparse.Namespace) -> int:
    """up | down | addr | status; status exits 1 when nothing answers."""
    addr = address()
    if args.action == "addr":
        print(addr)
        return 0
    if args.action == "status":
        return 0 if answers(addr) else 1
    _log(up(addr, data_dir()) if args.action == "up" else down(data_dir()))
    return 0
