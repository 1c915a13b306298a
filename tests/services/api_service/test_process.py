"""`python -m api_service` as real processes (2 uvicorn workers): bootstrap, no oversell, checks."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from tests.conftest import free_port, wait_for_port

ADMIN_PASSWORD = "bootstrap-admin-password"


@dataclass(frozen=True)
class Server:
    """A running api-service process."""

    url: str
    port: int
    log: Path


def base_env(**values: str) -> dict[str, str]:
    """The parent environment without any api-service setting, plus values."""
    names = ("MONGODB", "JWT_", "ADMIN_", "CORS_", "PORT", "HOST", "LOG_LEVEL", "WORKERS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(names)}
    return {**env, **values}


@pytest.fixture(scope="module")
def server(
    mongodb_uri: str, signing_key_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """api-service on a free port with the one-shot admin bootstrap, on its own database."""
    folder = tmp_path_factory.mktemp("api-process")
    password_file = folder / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n")
    port, database = free_port(), f"p_{uuid.uuid4().hex[:12]}"
    env = base_env(
        MONGODB_URI=mongodb_uri,
        MONGODB_DATABASE=database,
        JWT_PRIVATE_KEY_FILE=str(signing_key_file),
        ADMIN_EMAIL="root@example.com",
        ADMIN_PASSWORD_FILE=str(password_file),
        PORT=str(port),
        WORKERS="2",
    )
    log = folder / "api.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api_service"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(port, proc, "api-service")
            yield Server(f"http://127.0.0.1:{port}", port, log)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
            client: MongoClient[dict[str, object]] = MongoClient(mongodb_uri)
            client.drop_database(database)
            client.close()


def test_bootstrapped_admin_can_create_products(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        login = client.post(
            "/auth/login", json={"email": "root@example.com", "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200
        assert login.json()["user"]["role"] == "admin"
        created = client.post(
            "/products",
            json={"name": "Lamp", "price": 4999, "stock": 2},
            headers={"Authorization": f"Bearer {login.json()['token']}"},
        )
        assert created.status_code == 201
        assert "server" not in created.headers


async def test_two_workers_never_oversell(server: Server) -> None:
    async with httpx.AsyncClient(
        base_url=server.url, timeout=60, limits=httpx.Limits(max_connections=100)
    ) as client:
        login = await client.post(
            "/auth/login", json={"email": "root@example.com", "password": ADMIN_PASSWORD}
        )
        admin = {"Authorization": f"Bearer {login.json()['token']}"}
        product = await client.post(
            "/products", json={"name": "Rare", "price": 100, "stock": 10}, headers=admin
        )
        shopper = await client.post(
            "/auth/register", json={"email": "many@example.com", "password": "many-orders-pw"}
        )
        user = {"Authorization": f"Bearer {shopper.json()['token']}"}
        body = {"items": [{"productId": product.json()["id"], "qty": 1}]}
        responses = await asyncio.gather(
            *(
                client.post("/orders", json=body, headers={**user, "Idempotency-Key": f"k{n:08}"})
                for n in range(100)
            )
        )
        statuses = [r.status_code for r in responses]
        assert (statuses.count(201), statuses.count(409)) == (10, 90)
        final = await client.get(f"/products/{product.json()['id']}")
        assert final.json()["stock"] == 0


def _log_records(log: Path) -> list[dict[str, object]]:
    """Every complete JSON line of the log so far (a line still being written is skipped)."""
    text = log.read_text()
    complete = text if text.endswith("\n") else text.rsplit("\n", 1)[0]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def test_process_logs_are_json_without_the_admin_password(server: Server) -> None:
    request_id = f"logtest-{uuid.uuid4().hex[:12]}"
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/health", headers={"X-Request-ID": request_id}).status_code == 200
    # The access line is written after the response is sent: poll for it, bounded.
    deadline = time.monotonic() + 15
    records = _log_records(server.log)
    while not any(r.get("request_id") == request_id for r in records):
        assert time.monotonic() < deadline, f"no access-log line for {request_id} within 15 s"
        time.sleep(0.05)
        records = _log_records(server.log)
    (access,) = [r for r in records if r.get("request_id") == request_id]
    assert (access["route"], access["status"]) == ("/health", 200)
    assert any(r.get("outcome") == "created" for r in records)
    assert ADMIN_PASSWORD not in server.log.read_text()


def test_healthcheck_exits_0_when_the_service_answers(server: Server) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "api_service.healthcheck"],
        env=base_env(PORT=str(server.port)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_healthcheck_exits_1_when_nothing_answers() -> None:
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "api_service.healthcheck"],
        env=base_env(PORT=str(port)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert f"http://127.0.0.1:{port}/health" in result.stderr


def test_start_up_without_secrets_names_them_without_a_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "api_service"],
        env=base_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "MONGODB_URI: is required but not set" in result.stderr
    assert "JWT_PRIVATE_KEY_FILE: is required but not set" in result.stderr
    assert "Traceback" not in result.stderr


def refused_start(**env: str) -> str:
    """Start `python -m api_service` with env (and a database that is never reached): it must
    exit 2 before serving; its one line on stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "api_service"],
        env=base_env(**{"MONGODB_URI": "mongodb://127.0.0.1:1/", **env}),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    return result.stderr.strip()


def test_start_up_with_a_non_key_file_names_the_variable(tmp_path: Path) -> None:
    bogus = tmp_path / "key.pem"
    bogus.write_text("REPLACE_ME\n")
    assert refused_start(JWT_PRIVATE_KEY_FILE=str(bogus)) == (
        f"api-service: JWT_PRIVATE_KEY_FILE: {bogus} is not an unencrypted PEM private key"
    )


def test_start_up_with_an_unreadable_previous_keys_file_names_the_variable(
    tmp_path: Path, signing_key_file: Path
) -> None:
    previous = tmp_path / "previous-keys.json"
    previous.write_text("[]\n")
    stderr = refused_start(
        JWT_PRIVATE_KEY_FILE=str(signing_key_file), JWT_PREVIOUS_KEYS_FILE=str(previous)
    )
    assert (
        stderr == f"api-service: JWT_PREVIOUS_KEYS_FILE: {previous}: not a previous-keys document"
    )


def test_start_up_with_a_placeholder_database_password_names_the_variable(
    tmp_path: Path, signing_key_file: Path
) -> None:
    placeholder = tmp_path / "database-password"
    placeholder.write_text("changeme\n")
    stderr = refused_start(
        MONGODB_URI="mongodb://api@127.0.0.1:1/?authSource=admin",
        JWT_PRIVATE_KEY_FILE=str(signing_key_file),
        MONGODB_PASSWORD_FILE=str(placeholder),
    )
    assert stderr == (
        f"api-service: MONGODB_PASSWORD_FILE: {placeholder} holds a placeholder, not a password"
    )


def test_start_up_with_a_placeholder_admin_password_names_the_variable(
    tmp_path: Path, signing_key_file: Path
) -> None:
    placeholder = tmp_path / "admin-password"
    placeholder.write_text("changeme\n")
    stderr = refused_start(
        JWT_PRIVATE_KEY_FILE=str(signing_key_file),
        ADMIN_EMAIL="root@example.com",
        ADMIN_PASSWORD_FILE=str(placeholder),
    )
    assert stderr == (
        f"api-service: ADMIN_PASSWORD_FILE: {placeholder} holds a placeholder, not a password"
    )


def test_healthcheck_main_in_process(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    from api_service import healthcheck  # noqa: PLC0415

    monkeypatch.setenv("PORT", str(server.port))
    assert healthcheck.main() == 0
    monkeypatch.setenv("PORT", str(free_port()))
    assert healthcheck.main() == 1
    monkeypatch.setenv("PORT", "eighty")
    assert healthcheck.main() == 2


def test_main_hands_validated_settings_to_uvicorn(
    monkeypatch: pytest.MonkeyPatch, signing_key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn  # noqa: PLC0415

    from api_service import __main__ as entry  # noqa: PLC0415
    from api_service.config import get_settings  # noqa: PLC0415

    calls: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.setenv("MONGODB_URI", "mongodb://db:27017/")
    monkeypatch.setenv("JWT_PRIVATE_KEY_FILE", str(signing_key_file))
    monkeypatch.setenv("WORKERS", "3")
    monkeypatch.setenv("HOST", "0.0.0.0")  # noqa: S104 - what a container sets
    get_settings.cache_clear()
    try:
        assert entry.main() == 0
        ((app, kwargs),) = calls
        assert app == "api_service.main:create_app"
        assert kwargs["factory"] is True
        assert (kwargs["host"], kwargs["port"], kwargs["workers"]) == ("0.0.0.0", 8000, 3)  # noqa: S104
        monkeypatch.delenv("MONGODB_URI")
        get_settings.cache_clear()
        assert entry.main() == 2
        assert "MONGODB_URI: is required but not set" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()
