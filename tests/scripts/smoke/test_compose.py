"""compose.yaml: every service hardened, every image by digest from a variable without a default."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from microshop_ci.smoke.compose import Paths, environment, run_args
from tests.conftest import REPO_ROOT

COMPOSE = REPO_ROOT / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """compose.yaml, with YAML merge keys resolved."""
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_services_are_the_three_of_the_product(compose: dict[str, Any]) -> None:
    assert sorted(compose["services"]) == ["api-service", "client-service", "mongodb"]


@pytest.mark.parametrize("service", ["api-service", "client-service", "mongodb"])
def test_service_is_hardened(compose: dict[str, Any], service: str) -> None:
    spec = compose["services"][service]
    assert spec["read_only"] is True
    assert spec["cap_drop"] == ["ALL"]
    assert spec["security_opt"] == ["no-new-privileges:true"]
    assert spec["tmpfs"] == ["/tmp:rw,noexec,nosuid,size=16m"]  # noqa: S108 - container tmpfs
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", spec["user"])
    assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", spec["image"]), (
        "image must be a required variable"
    )


def test_app_services_run_as_65532_with_secrets_from_files(compose: dict[str, Any]) -> None:
    for service in ("api-service", "client-service"):
        assert compose["services"][service]["user"] == "65532:65532"
    assert compose["services"]["api-service"]["secrets"] == ["jwt_private_key"]
    assert compose["services"]["client-service"]["secrets"] == ["session_secret"]
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./.local/secrets/")
    env = compose["services"]["api-service"]["environment"]
    assert env["JWT_PRIVATE_KEY_FILE"] == "/run/secrets/jwt_private_key"


def test_database_network_is_internal(compose: dict[str, Any]) -> None:
    assert compose["networks"]["backend"]["internal"] is True
    assert compose["services"]["mongodb"]["networks"] == ["backend"]
    assert "ports" not in compose["services"]["mongodb"]


def test_compose_local_runs_the_same_hardening(compose: dict[str, Any]) -> None:
    spec = compose["services"]["api-service"]
    args = run_args("api-service", spec, compose, Paths(REPO_ROOT))
    for flag in ("--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges:true"):
        assert flag in args
    assert args[args.index("--user") + 1] == "65532:65532"
    secret = Path(REPO_ROOT / ".local/secrets/jwt_private_key.pem").resolve()
    assert f"{secret}:/run/secrets/jwt_private_key:ro" in args
    env = environment(spec, {"MONGODB_URI": "mongodb://172.18.0.1:27017/"})
    assert "MONGODB_URI=mongodb://172.18.0.1:27017/" in env
    assert "JWT_PRIVATE_KEY_FILE=/run/secrets/jwt_private_key" in env
