"""Where each service's secrets live in OpenBao (KV v2), and its policy and agent files here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from microshop_ci.core.paths import REPO_ROOT

MOUNT = "secret"  # the KV v2 mount (the dev server's default; `microshop secrets setup` makes it)
PREFIX = "microshop"
POLICIES_DIR = REPO_ROOT / "policies" / "openbao"
AGENT_DIR = REPO_ROOT / "k8s" / "openbao"
ROTATOR_POLICY = "secrets-rotator"


@dataclass(frozen=True)
class Secret:
    """One KV v2 secret: which service reads it, its name, and the fields it holds."""

    service: str
    name: str
    fields: tuple[str, ...]

    @property
    def path(self) -> str:
        """Its path under the mount: microshop/<service>/<name>."""
        return f"{PREFIX}/{self.service}/{self.name}"

    @property
    def api_path(self) -> str:
        """Its data path in the HTTP API and in policies: secret/data/microshop/..."""
        return f"{MOUNT}/data/{self.path}"


# What `microshop secrets rotate KIND` replaces; each service's agent renders its own into files.
SECRETS = {
    "jwt": Secret("api-service", "jwt", ("private_key", "previous_keys")),
    "db-password": Secret("api-service", "database", ("password",)),
    "admin-password": Secret("api-service", "admin", ("password",)),
    "session-secret": Secret("client-service", "session", ("secret",)),
    "mongodb-root": Secret("mongodb", "root", ("username", "password")),
}
SERVICES = ("api-service", "client-service", "mongodb")


def secrets_of(service: str) -> list[Secret]:
    """The secrets a service's agent reads, in a stable order."""
    return [secret for secret in SECRETS.values() if secret.service == service]


def policy_file(name: str) -> Path:
    """The ACL policy (HCL) of a service, or of the rotation operator."""
    return POLICIES_DIR / f"{name}.hcl"


def agent_files(service: str) -> tuple[Path, Path, Path]:
    """A service's agent configuration: the shared one, its auto-auth, its templates."""
    return (
        AGENT_DIR / "agent.hcl",
        AGENT_DIR / service / "auth.hcl",
        AGENT_DIR / service / "templates.hcl",
    )
