"""Start and stop the shop's containers for the smoke run (smoke.compose), and look inside."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.core.errors import MicroshopError
from microshop_ci.core.tools import ToolError, docker, pinned_tool
from microshop_ci.smoke import compose

NETWORK = "microshop-local"
API_CONTAINER = "microshop-api-service"
CLIENT_CONTAINER = "microshop-client-service"
API_URL = "http://127.0.0.1:8000"
STOREFRONT_URL = "http://127.0.0.1:8080"
RUNTIME_UID = 65532
SERVICES = ("api-service", "client-service")


class SmokeError(MicroshopError):
    """A smoke step failed; the message says which and why."""


@dataclass(frozen=True)
class Stack:
    """The running shop: its repo (for scripts), its images file and the refs in it."""

    repo: Path
    images_file: Path
    images: dict[str, str]

    def up(self) -> None:
        """Start both services on FerretDB (smoke.compose), with Secure cookies off (plain HTTP)."""
        try:
            compose.up(
                compose.Paths(self.repo),
                self.images,
                pinned_tool("ferretdb"),
                overrides={"COOKIE_SECURE": "false"},
            )
        except (OSError, KeyError, RuntimeError, ToolError) as exc:
            raise SmokeError(f"compose-local up failed: {str(exc)[-1500:]}") from exc

    def down(self) -> None:
        """Containers, FerretDB and the network go away (best effort: a teardown never fails)."""
        with contextlib.suppress(OSError, ToolError):
            compose.down(compose.Paths(self.repo))

    def hardening(self) -> dict[str, dict[str, object]]:
        """For each running container: its user, read-only root and the image it runs."""
        seen: dict[str, dict[str, object]] = {}
        for name in (API_CONTAINER, CLIENT_CONTAINER):
            info = json.loads(docker("inspect", name))[0]
            seen[name.removeprefix("microshop-")] = {
                "user": info["Config"]["User"],
                "read_only": info["HostConfig"]["ReadonlyRootfs"],
                "image": info["Config"]["Image"],
            }
        return seen

    def create_admin(self, email: str) -> str:
        """Bootstrap an admin with the api-service image's own CLI, as a one-shot container."""
        folder = self.repo / ".local" / "smoke"
        folder.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        password_file = folder / "admin_password"
        password_file.write_text(password)
        password_file.chmod(0o400)
        if os.geteuid() == 0:
            os.chown(password_file, RUNTIME_UID, RUNTIME_UID)
        api = json.loads(docker("inspect", API_CONTAINER))[0]
        env = [
            e
            for e in api["Config"]["Env"]
            if e.split("=", 1)[0] in {"MONGODB_URI", "MONGODB_DATABASE", "JWT_PRIVATE_KEY_FILE"}
        ]
        mounts = [
            f"{m['Source']}:{m['Destination']}:ro" for m in api["Mounts"] if m["Type"] == "bind"
        ]
        argv = ["run", "--rm", "--network", NETWORK, "--read-only", "--user", f"{RUNTIME_UID}"]
        argv += ["--cap-drop=ALL", "--security-opt=no-new-privileges:true"]
        if label := os.environ.get("MICROSHOP_RUN_LABEL"):
            argv += ["--label", label]
        for item in env:
            argv += ["-e", item]
        for mount in mounts:
            argv += ["-v", mount]
        argv += ["-v", f"{password_file}:/run/secrets/admin_password:ro"]
        argv += ["--entrypoint", "python3", self.images["api-service"]]
        argv += ["-m", "api_service.cli", "create-admin", "--email", email]
        argv += ["--password-file", "/run/secrets/admin_password"]
        outcome = docker(*argv)
        if not outcome.endswith(": created"):
            raise SmokeError(f"create-admin did not create {email}: {outcome!r}")
        return password
