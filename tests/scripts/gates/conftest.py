"""Session fixtures: the failing fixture tree and one gates run over it, one over the repo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import REPO_ROOT

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "gates" / "bad"
NO_EXCEPTIONS = "version: 1\nexceptions: []\n"


@dataclass(frozen=True)
class GatesRun:
    """Exit code, stderr and reports of one scripts/gates run."""

    code: int
    stderr: str
    report_dir: Path

    @property
    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.report_dir / "summary.json").read_text())
        return data

    @property
    def markdown(self) -> str:
        return (self.report_dir / "summary.md").read_text()

    def gate(self, name: str) -> dict[str, Any]:
        return next(g for g in self.summary["gates"] if g["gate"] == name)

    def sarif(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.report_dir / f"{name}.sarif").read_text())
        return data


def run_gates(
    report_dir: Path, *args: str, env: dict[str, str] | None = None, entry: str | None = None
) -> GatesRun:
    """Run the gates CLI in a child process (or the given entry point, as workflows do)."""
    command = [entry] if entry else [sys.executable, "-m", "microshop_ci", "gates"]
    result = subprocess.run(
        [*command, "--report-dir", str(report_dir), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=1800,
    )
    return GatesRun(result.returncode, result.stderr, report_dir)


def private_key_pem() -> bytes:
    """A freshly generated RSA key in PEM: real key material, never committed."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="session")
def bad_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The failing fixture tree plus a generated private key, and a second key under
    tests/fixtures/ that the policy's exclude must hide from every gate."""
    root = tmp_path_factory.mktemp("gates") / "bad"
    shutil.copytree(FIXTURE, root)
    pem = private_key_pem()
    (root / "services" / "bad-service" / "deploy-key.pem").write_bytes(pem)
    hidden = root / "tests" / "fixtures" / "gates"
    hidden.mkdir(parents=True)
    (hidden / "excluded-key.pem").write_bytes(pem)
    return root


@pytest.fixture(scope="session")
def no_exceptions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "exceptions.yaml"
    path.write_text(NO_EXCEPTIONS)
    return path


@pytest.fixture(scope="session")
def empty_trivy_cache(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A Trivy cache without the vulnerability DB, so trivy-vuln is deterministically not run."""
    return {"TRIVY_CACHE_DIR": str(tmp_path_factory.mktemp("trivy-cache"))}


@pytest.fixture(scope="session")
def bad_run(
    bad_tree: Path,
    no_exceptions: Path,
    empty_trivy_cache: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> GatesRun:
    """Every gate, once, over the failing tree."""
    reports = tmp_path_factory.mktemp("bad-reports")
    return run_gates(
        reports,
        "--root", str(bad_tree), "--exceptions", str(no_exceptions), env=empty_trivy_cache
    )  # fmt: skip


@pytest.fixture(scope="session")
def repo_run(tmp_path_factory: pytest.TempPathFactory) -> GatesRun:
    """Every gate, once, over this repository with its real policy and exceptions."""
    return run_gates(
        tmp_path_factory.mktemp("repo-reports"), entry=str(REPO_ROOT / "scripts" / "gates")
    )
