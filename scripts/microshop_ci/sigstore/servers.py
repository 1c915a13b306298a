"""The local Sigstore's processes: how each is started (argv, config files) and when it is ready.

Secrets (the database password) go into 0600 config files that the servers read, never into
their command lines, which any local user can see.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from microshop_ci.core.tools import microshop
from microshop_ci.sigstore import oidc
from microshop_ci.sigstore.build import FULCIO, REKOR, TRILLIAN
from microshop_ci.sigstore.keys import write_private
from microshop_ci.sigstore.mariadb import MariaDB
from microshop_ci.sigstore.settings import LOOPBACK, Settings


@dataclass(frozen=True)
class Server:
    """One long-running process of the stack."""

    name: str
    argv: tuple[str, ...]
    ready: Callable[[], bool]
    env: Mapping[str, str] = field(default_factory=dict)
    before_start: Callable[[], None] = lambda: None  # e.g. clear what a killed run left


def answers(url: str) -> bool:
    """True when GET url answers 200."""
    try:
        return httpx.get(url, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def health_urls(s: Settings) -> dict[str, str]:
    """The URL that answers 200 when each HTTP server is ready (MariaDB: MariaDB.answers)."""
    return {
        "trillian-log-server": f"http://{s.trillian_http}/healthz",
        "trillian-log-signer": f"http://{s.signer_http}/healthz",
        "rekor": f"{s.rekor_url}/api/v1/log",  # answers only once Rekor reads its tree
        "oidc": f"{s.issuer_url}/.well-known/openid-configuration",
        "fulcio": f"{s.fulcio_url}/api/v1/rootCert",
    }


def _ready(s: Settings, name: str) -> Callable[[], bool]:
    url = health_urls(s)[name]
    return lambda: answers(url)


def mariadb(s: Settings, db: MariaDB) -> Server:
    """MariaDB on its private socket."""
    log = s.folder("logs") / "mariadb.log"
    return Server("mariadb", tuple(db.server_argv(log)), db.answers, db.env)


def trillian_flags(s: Settings, db: MariaDB) -> Path:
    """The flags both Trillian servers share, with the database DSN (0600)."""
    flags = [
        "--storage_system=mysql",
        "--quota_system=noop",
        f"--mysql_uri={db.dsn('trillian')}",
    ]
    return write_private(s.folder("trillian") / "flags", "\n".join(flags).encode() + b"\n")


def _trillian(s: Settings, name: str, flags: Path, rpc: str, http: str, *extra: str) -> Server:
    """One of Trillian's two servers on its loopback endpoints, ready when /healthz answers."""
    command = name.replace("-", "_")
    binary = str(TRILLIAN.binary(command))
    argv: tuple[str, ...] = (binary, f"--config={flags}", f"--rpc_endpoint={rpc}")
    argv = (*argv, f"--http_endpoint={http}", *extra)
    return Server(name, argv, _ready(s, name))


def trillian_log_server(s: Settings, flags: Path) -> Server:
    """Trillian's log server: the gRPC API Rekor writes to and reads from."""
    return _trillian(s, "trillian-log-server", flags, s.trillian_rpc, s.trillian_http)


def trillian_log_signer(s: Settings, flags: Path) -> Server:
    """Trillian's log signer: sequences new leaves into the tree (the only signer: no election)."""
    return _trillian(s, "trillian-log-signer", flags, s.signer_rpc, s.signer_http, "--force_master")


def createtree_argv(s: Settings) -> list[str]:
    """createtree against the running log server; it prints the new tree's id."""
    binary = str(TRILLIAN.binary("createtree"))
    return [binary, f"--admin_server={s.trillian_rpc}", "--display_name=microshop-rekor"]


def rekor(s: Settings, db: MariaDB, tree_id: str) -> Server:
    """Rekor v1 on the tree, signing with the cached key, its search index in MariaDB."""
    host, port = s.trillian_rpc.rsplit(":", 1)
    config = {
        "trillian_log_server": {"address": host, "port": int(port)},
        "rekor_server": {
            "address": s.host,
            "hostname": "microshop-rekor",
            "signer": str(s.keys.rekor_key),
        },
        "port": int(s.rekor_url.rsplit(":", 1)[1]),
        "enable_retrieve_api": True,
        "search_index": {"storage_provider": "mysql", "mysql": {"dsn": db.dsn("rekor")}},
        "log_type": "prod",
    }
    path = write_private(s.folder("rekor") / "config.json", json.dumps(config).encode())
    # the tree id on the command line: a JSON number would reach viper as a float64 and lose digits
    binary = str(REKOR.binary("rekor-server"))
    argv = (binary, "serve", f"--config={path}", f"--trillian_log_server.tlog_id={tree_id}")
    return Server("rekor", argv, _ready(s, "rekor"))


def oidc_issuer(s: Settings) -> Server:
    """The stand-in of GitHub's token service (its keys in DATA/oidc)."""
    host, port = s.issuer_url.removeprefix("http://").rsplit(":", 1)
    argv = microshop("oidc", "serve", "--host", host, "--port", port)
    argv = (*argv, "--data", str(s.folder("oidc")))
    return Server("oidc", argv, _ready(s, "oidc"), {"PYTHONPATH": _scripts_path()})


def _scripts_path() -> str:
    scripts = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join(filter(None, [scripts, os.environ.get("PYTHONPATH", "")]))


def fulcio(s: Settings) -> Server:
    """Fulcio with the file CA, trusting only the stand-in issuer; no CT log (no SCTs)."""
    folder = s.folder("fulcio")
    issuers_path = folder / "issuers.json"
    issuers_path.write_text(json.dumps(oidc.fulcio_issuer(s.issuer_url), indent=2) + "\n")
    serve = {
        "ca": "fileca",
        "fileca-cert": str(s.keys.fulcio_root),
        "fileca-key": str(s.keys.fulcio_key),
        "fileca-key-passwd": s.keys.fulcio_password.read_text().strip(),
        "fileca-watch": False,
        "ct-log-url": "",
        "config-path": str(issuers_path),
        "host": s.host,
        "port": str(s.port),
        # Fulcio's HTTP API reaches its own gRPC server at localhost:GRPC-PORT (cmd/app/http.go)
        "grpc-host": LOOPBACK,
        "grpc-port": str(s.fulcio_grpc_port),
        "metrics-port": str(s.fulcio_metrics_port),
        "legacy-unix-domain-socket": str(folder / "legacy-grpc.sock"),  # not a machine-wide one
        "log_type": "prod",
    }
    path = write_private(folder / "serve.json", json.dumps(serve).encode())
    argv = (str(FULCIO.binary("fulcio")), "serve", f"--config={path}")
    # Fulcio leaves its unix socket behind when it stops, and then cannot bind it again
    socket = folder / "legacy-grpc.sock"
    clear = lambda: socket.unlink(missing_ok=True)  # noqa: E731
    return Server("fulcio", argv, _ready(s, "fulcio"), before_start=clear)
