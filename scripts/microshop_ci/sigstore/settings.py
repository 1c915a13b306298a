"""Where the local Sigstore listens and keeps its data: one frozen Settings, read from the env.

MICROSHOP_SIGSTORE_HOST  the address Fulcio, Rekor and the OIDC issuer bind to and advertise
                         (default 127.0.0.1; the kind network's gateway lets pods reach them)
MICROSHOP_SIGSTORE_PORT  the first of ten consecutive ports (default 5550)
MICROSHOP_SIGSTORE_DATA  the data folder (default the git-ignored .local/sigstore)
Trillian and Fulcio's gRPC API listen on loopback only and MariaDB on a unix socket only, whatever
the host (Fulcio's metrics port listens on every address: it has no flag for that).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.core.errors import MicroshopError
from microshop_ci.core.paths import LOCAL_DIR
from microshop_ci.sigstore.keys import Keys, default_keys

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5550  # 5550-5559: clear of 5000, 8000, 8080 and the kind cluster's ports
LOOPBACK = "127.0.0.1"


class SettingsError(MicroshopError, ValueError):
    """A MICROSHOP_SIGSTORE_* variable is malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Host, first port, data folder and key folder of one stack."""

    host: str
    port: int
    data: Path
    keys: Keys

    @property
    def fulcio_url(self) -> str:
        """Fulcio's HTTP API."""
        return f"http://{self.host}:{self.port}"

    @property
    def fulcio_grpc_port(self) -> int:
        """Fulcio's gRPC API (loopback: its HTTP API calls it at localhost)."""
        return self.port + 1

    @property
    def fulcio_metrics_port(self) -> int:
        """Fulcio's Prometheus endpoint."""
        return self.port + 2

    @property
    def rekor_url(self) -> str:
        """Rekor's REST API."""
        return f"http://{self.host}:{self.port + 3}"

    @property
    def issuer_url(self) -> str:
        """The OIDC issuer (exactly the `iss` of its tokens)."""
        return f"http://{self.host}:{self.port + 4}"

    @property
    def trillian_rpc(self) -> str:
        """Trillian log server's gRPC endpoint (Rekor and createtree use it)."""
        return f"{LOOPBACK}:{self.port + 5}"

    @property
    def trillian_http(self) -> str:
        """Trillian log server's /healthz and /metrics."""
        return f"{LOOPBACK}:{self.port + 6}"

    @property
    def signer_rpc(self) -> str:
        """Trillian log signer's gRPC endpoint."""
        return f"{LOOPBACK}:{self.port + 7}"

    @property
    def signer_http(self) -> str:
        """Trillian log signer's /healthz and /metrics."""
        return f"{LOOPBACK}:{self.port + 8}"

    @property
    def trusted_root(self) -> Path:
        """The `cosign trusted-root create` output made at every `up`."""
        return self.data / "trusted_root.json"

    def folder(self, name: str) -> Path:
        """A component's own folder under the data folder (created, owner only)."""
        path = self.data / name
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path


def settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings from MICROSHOP_SIGSTORE_* of env, the process's own by default (empty means
    the default)."""
    env = os.environ if env is None else env
    host = env.get("MICROSHOP_SIGSTORE_HOST") or DEFAULT_HOST
    raw_port = env.get("MICROSHOP_SIGSTORE_PORT") or str(DEFAULT_PORT)
    if not raw_port.isdigit() or not 1024 <= int(raw_port) <= 65526:
        raise SettingsError(
            f"MICROSHOP_SIGSTORE_PORT must be a port from 1024 to 65526, not {raw_port!r}"
        )
    data = Path(env.get("MICROSHOP_SIGSTORE_DATA") or LOCAL_DIR / "sigstore")
    return Settings(host=host, port=int(raw_port), data=data.absolute(), keys=default_keys())
