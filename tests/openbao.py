"""A real OpenBao for tests: a dev server on a free port, audit log on, and agents rendering."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from microshop_ci.secrets.bao import BaoError, bao_binary
from microshop_ci.secrets.layout import agent_files
from tests.conftest import free_port, stop_process, wait_for_port

POD_ROOT = "/var/run/secrets/microshop/"  # where the committed templates render in a pod
RENDER_BOUND = 30.0  # seconds an agent may take to (re-)render; polled every 0.2 s


@dataclass(frozen=True)
class Bao:
    """A running dev server: its address, root token, audit log and binary."""

    addr: str
    root_token: str
    audit_log: Path
    binary: Path

    def env(self, token: str | None = None) -> dict[str, str]:
        """The environment the bao CLI (and microshop secrets) reads: address and token."""
        return {"BAO_ADDR": self.addr, "BAO_TOKEN": token or self.root_token}

    def cli(self, *args: str, token: str | None = None) -> str:
        """Run `bao ARGS` as root (or with token); its stdout; fails the test on an error."""
        result = subprocess.run(
            [str(self.binary), *args],
            env={**os.environ, **self.env(token)},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def token_for(self, policy: str) -> str:
        """A token holding one policy, named after it (its identity in the audit log)."""
        return self.cli(
            "token", "create", f"-policy={policy}", f"-display-name={policy}", "-field=token"
        )


def start_bao(data: Path, *, audit: bool = True) -> tuple[Bao, subprocess.Popen[bytes]]:
    """Start `bao server -dev` on a free port (never 5000, 8000 or 8080), with a file audit
    device declared in its configuration (OpenBao 2 enables audit devices no other way)."""
    try:
        binary = bao_binary()
    except BaoError as err:
        pytest.fail(str(err))
    port = free_port()
    token = secrets.token_urlsafe(24)
    config = data / "audit.hcl"
    config.write_text(
        f'audit "file" "file" {{\n  options {{\n    file_path = "{data}/audit.log"\n  }}\n}}\n'
        if audit
        else "\n"
    )
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            str(binary), "server", "-dev", f"-dev-root-token-id={token}",
            f"-dev-listen-address=127.0.0.1:{port}", f"-config={config}", "-log-level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    wait_for_port(port, proc, "OpenBao")
    return Bao(f"http://127.0.0.1:{port}", token, data / "audit.log", binary), proc


def poll(condition: Callable[[], bool], what: str, bound: float = RENDER_BOUND) -> None:
    """Wait until condition holds, at most bound seconds; fail naming what was awaited."""
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {bound:.0f} s")
        time.sleep(0.2)


@contextmanager
def agent(bao: Bao, service: str, token: str, root: Path) -> Iterator[Path]:
    """Run the service's agent with its committed templates, rendering under root (not the
    pod's path) and logging in with a token file instead of Kubernetes auth; yields root."""
    *_, templates = agent_files(service)
    work = root / ".agent"
    work.mkdir(parents=True)
    (work / "token").write_text(token)
    (work / "templates.hcl").write_text(templates.read_text().replace(POD_ROOT, f"{root}/"))
    (work / "agent.hcl").write_text(
        f'pid_file = "{work}/pid"\n'
        f'vault {{\n  address = "{bao.addr}"\n}}\n'
        'auto_auth {\n  method "token_file" {\n'
        f'    config = {{\n      token_file_path = "{work}/token"\n    }}\n  }}\n}}\n'
        'template_config {\n  static_secret_render_interval = "1s"\n}\n'
    )
    log = (work / "agent.log").open("wb")
    proc = subprocess.Popen(
        [
            str(bao.binary), "agent", f"-config={work}/agent.hcl",
            f"-config={work}/templates.hcl",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))},
    )  # fmt: skip
    log.close()
    try:
        yield root
    finally:
        stop_process(proc)
