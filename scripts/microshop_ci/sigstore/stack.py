"""`microshop sigstore up|down|status|env`: start, stop, check and describe the local Sigstore.

up      build what is missing, create the keys once, then start MariaDB, Trillian's log server
        and log signer, Rekor, the OIDC issuer and Fulcio in that order, each polled until it
        answers (bounded); a running component is left alone; writes the trusted root
down    stop exactly the processes `up` started (their pid files); the data stays
status  one line per component, exit 0 only when all answer
env     the shell variables a signer or verifier needs (`eval "$(microshop sigstore env)"`)
release-job  the variables `scripts/supply-chain --mode keyless` needs to sign here as this
        repository's release.yml on tag MICROSHOP_RELEASE_TAG (default v0.0.0) at HEAD: a token of
        the token service stand-in, the runner's GITHUB_* variables, the private-Sigstore settings
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import time
from pathlib import Path

from microshop_ci.core.errors import MicroshopError
from microshop_ci.core.gobuild import BuildError, module_dir
from microshop_ci.core.log import log
from microshop_ci.core.tools import ToolError, pinned_tool, run_tool, spawn, stop_group
from microshop_ci.sigstore import jobs, servers
from microshop_ci.sigstore.build import TRILLIAN, build_all
from microshop_ci.sigstore.keys import ensure_keys
from microshop_ci.sigstore.mariadb import MariaDB, ensure_mariadb, pinned_usr
from microshop_ci.sigstore.servers import Server
from microshop_ci.sigstore.settings import Settings, settings

START_SECONDS, POLL_SECONDS, STOP_SECONDS = 120.0, 0.25, 20.0  # a loaded 2-core machine
ORDER = ("mariadb", "trillian-log-server", "trillian-log-signer", "rekor", "oidc", "fulcio")
# what `down` stops together: the servers clients call, then Trillian's pair, then the database
STOP_TIERS = (
    ("fulcio", "oidc", "rekor"),
    ("trillian-log-signer", "trillian-log-server"),
    ("mariadb",),
)


class StackError(MicroshopError):
    """A component could not be built or started; the message names it and its log."""


def pid_file(s: Settings, name: str) -> Path:
    """DATA/run/NAME.pid, written by `up`."""
    return s.folder("run") / f"{name}.pid"


def recorded(s: Settings, name: str) -> int | None:
    """The pid `up` recorded for name, if that process still runs the program it started."""
    try:
        pid_text, program = pid_file(s, name).read_text().split("\n")[:2]
        pid = int(pid_text)
        running = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except (OSError, ValueError):
        return None
    return pid if running.decode(errors="replace") == program else None


def start(s: Settings, server: Server) -> str:
    """Start server unless it runs; poll until it is ready, StackError naming its log if not."""
    if recorded(s, server.name) and server.ready():
        return f"{server.name} already running"
    log_path = s.folder("logs") / f"{server.name}.log"
    began = time.monotonic()
    server.before_start()
    with log_path.open("ab") as out:
        try:
            proc = spawn(server.argv, out=out, env={**os.environ, **server.env})
        except FileNotFoundError:
            raise StackError(f"{server.name}: {server.argv[0]} not found") from None
    pid_file(s, server.name).write_text(f"{proc.pid}\n{server.argv[0]}\n")
    while time.monotonic() - began < START_SECONDS:
        if server.ready():
            return f"{server.name} up in {time.monotonic() - began:.1f}s (pid {proc.pid})"
        if proc.poll() is not None:
            raise StackError(f"{server.name} exited {proc.returncode} (log: {log_path})")
        time.sleep(POLL_SECONDS)
    stop_group(proc, STOP_SECONDS)
    pid_file(s, server.name).unlink()
    raise StackError(f"{server.name} not ready within {START_SECONDS:.0f}s (log: {log_path})")


def tree_id(s: Settings) -> str:
    """Rekor's Trillian tree, created once (DATA/trillian/tree_id)."""
    path = s.folder("trillian") / "tree_id"
    if not path.is_file():
        out = run_tool(servers.createtree_argv(s), timeout=60).stdout.strip()
        if not out.isdigit():
            raise StackError(f"createtree printed no tree id: {out[-200:]!r}")
        path.write_text(out + "\n")
    return path.read_text().strip()


def trusted_root(s: Settings) -> None:
    """`cosign trusted-root create` for this Fulcio and Rekor (start time: the CA's)."""
    since = s.keys.created().strftime("%Y-%m-%dT%H:%M:%SZ")
    fulcio = f"url={s.fulcio_url},certificate-chain={s.keys.fulcio_root},start-time={since}"
    rekor = f"url={s.rekor_url},public-key={s.keys.rekor_public},start-time={since}"
    argv = [pinned_tool("cosign"), "trusted-root", "create", "--fulcio", fulcio]
    run_tool([*argv, "--rekor", rekor, "--out", str(s.trusted_root)], timeout=60)


def up(s: Settings) -> None:
    """Bring every component up in order (idempotent)."""
    began = time.monotonic()
    try:
        build_all()
        db = MariaDB(ensure_mariadb(), s.folder("mariadb"))
        schema = module_dir(TRILLIAN.module, TRILLIAN.version, None)
        made = ensure_keys(s.keys)
        if made:
            log(made)
        if db.initialise():
            log(f"mariadb: data folder initialised in {db.data}")
        log(start(s, servers.mariadb(s, db)))
        db.provision(schema / "storage" / "mysql" / "schema" / "storage.sql")
        flags = servers.trillian_flags(s, db)
        log(start(s, servers.trillian_log_server(s, flags)))
        log(start(s, servers.trillian_log_signer(s, flags)))
        log(start(s, servers.rekor(s, db, tree_id(s))))
        log(start(s, servers.oidc_issuer(s)))
        log(start(s, servers.fulcio(s)))
        trusted_root(s)
    except (BuildError, ToolError) as exc:
        raise StackError(str(exc).splitlines()[0]) from None
    took = time.monotonic() - began
    log(f"sigstore up in {took:.1f}s: Fulcio {s.fulcio_url}, Rekor {s.rekor_url}")


def _stop(pids: list[int]) -> None:
    """SIGTERM to each process group, then SIGKILL to those still there after the grace."""
    for sig, grace in ((signal.SIGTERM, STOP_SECONDS), (signal.SIGKILL, 5.0)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
            time.sleep(POLL_SECONDS)
        pids = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
        if not pids:
            return


def down(s: Settings) -> list[str]:
    """Stop every process `up` started, a tier at a time (Trillian's servers each pause 5 s
    before they exit, so both are stopped together); the data stays."""
    said = []
    for tier in STOP_TIERS:
        pids = {name: pid for name in tier if (pid := recorded(s, name))}
        for name in tier:
            pid_file(s, name).unlink(missing_ok=True)
        _stop(list(pids.values()))
        said += [f"{name} stopped (pid {pid})" for name, pid in pids.items()]
    return said or ["nothing started by microshop sigstore is running"]


def status(s: Settings) -> list[tuple[str, bool]]:
    """Whether each component answers (by its own readiness check)."""
    db = MariaDB(pinned_usr(), s.data / "mariadb")  # never downloads
    urls = servers.health_urls(s)
    return [
        (name, db.answers() if name == "mariadb" else servers.answers(urls[name])) for name in ORDER
    ]


def env_lines(s: Settings) -> list[str]:
    """KEY=value lines (shell-quoted); cosign itself reads SIGSTORE_ROOT_FILE and
    SIGSTORE_REKOR_PUBLIC_KEY."""
    values = {
        "FULCIO_URL": s.fulcio_url,
        "REKOR_URL": s.rekor_url,
        "SIGSTORE_OIDC_ISSUER": s.issuer_url,
        "SIGSTORE_OIDC_DATA": str(s.data / "oidc"),
        "SIGSTORE_ROOT_FILE": str(s.keys.fulcio_root),
        "SIGSTORE_REKOR_PUBLIC_KEY": str(s.keys.rekor_public),
        "SIGSTORE_TRUSTED_ROOT": str(s.trusted_root),
    }
    return [f"{key}={shlex.quote(value)}" for key, value in values.items()]


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop sigstore up | down | status | env | release-job`."""
    parser.add_argument("action", choices=("up", "down", "status", "env", "release-job"))


def run_command(args: argparse.Namespace) -> int:
    """Run one action; status exits 1 when a server is down."""
    s = settings()
    if args.action == "up":
        up(s)
    elif args.action == "down":
        for line in down(s):
            log(line)
    elif args.action == "status":
        states = status(s)
        for name, ok in states:
            print(f"{name} {'up' if ok else 'down'}")
        return 0 if all(ok for _, ok in states) else 1
    elif args.action == "release-job":
        print("\n".join(jobs.release_job_lines(s, os.environ)))
    else:
        print("\n".join(env_lines(s)))
    return 0
