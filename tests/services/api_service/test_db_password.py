"""A rotated database password is picked up from MONGODB_PASSWORD_FILE without a restart.

FerretDB with authentication (SCRAM-SHA-256 users, `updateUser` to rotate) stands in for
MongoDB; it is restarted after the rotation so that every connection signs in again, as after a
failover or a database restart (connections already signed in keep working until then).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from tests.conftest import free_port, stop_process, tool_path, wait_for_port
from tests.services.api_service.conftest import USER_PASSWORD, Starter, register

USER = "microshop-api"
FIRST = "first-database-password-0123456789"
SECOND = "second-database-password-0123456789"
BOUND = 30.0  # seconds for the API to come back after the database restarts


class AuthDatabase:
    """A FerretDB that requires a password, with one user, restartable on the same data."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.data / "ferretdb.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    tool_path("ferretdb"), "--handler=sqlite", f"--sqlite-url=file:{self.data}/",
                    f"--state-dir={self.data}", "--telemetry=disable", "--debug-addr=-",
                    f"--listen-addr=127.0.0.1:{self.port}", "--log-level=warn",
                    "--test-enable-new-auth", "--setup-database=microshop",
                    f"--setup-username={USER}", f"--setup-password={FIRST}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for_port(self.port, self.proc, "FerretDB with authentication")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    @property
    def uri(self) -> str:
        """The URI the API gets: the user, no password."""
        return f"mongodb://{USER}@127.0.0.1:{self.port}/?authSource=microshop"

    def set_password(self, old: str, new: str) -> None:
        """Rotate the user's password in the database."""
        client: MongoClient[dict[str, Any]] = MongoClient(
            self.uri, password=old, serverSelectionTimeoutMS=5_000
        )
        try:
            assert client["microshop"].command("updateUser", USER, pwd=new)["ok"] == 1.0
        finally:
            client.close()


@pytest.fixture
def auth_database(tmp_path: Path) -> Iterator[AuthDatabase]:
    database = AuthDatabase(tmp_path)
    database.start()
    try:
        yield database
    finally:
        database.stop()


def write_password(path: Path, value: str) -> None:
    """Replace the file as the agent does (aside, then rename)."""
    aside = path.with_name(f".{path.name}.new")
    aside.write_text(value + "\n")
    os.replace(aside, path)


Answer = tuple[int, str]  # status and error message ("" on success)


async def login_until(client: httpx.AsyncClient, done: Callable[[Answer], bool]) -> list[Answer]:
    """Sign in every 0.2 s until an answer is done (bounded); every answer seen."""
    seen: list[Answer] = []
    deadline = time.monotonic() + BOUND
    while not seen or not done(seen[-1]):
        assert time.monotonic() < deadline, f"not done within {BOUND:.0f} s: {seen[-5:]}"
        response = await client.post(
            "/auth/login", json={"email": "db@example.com", "password": USER_PASSWORD}
        )
        seen.append((response.status_code, response.json().get("error", {}).get("message", "")))
        if not done(seen[-1]):
            await asyncio.sleep(0.2)
    return seen


async def test_a_rotated_password_is_read_again_when_the_database_refuses_the_old_one(
    auth_database: AuthDatabase, start_app: Starter, tmp_path: Path
) -> None:
    password_file = tmp_path / "database-password"
    write_password(password_file, FIRST)
    app, client = await start_app(
        mongodb_uri=auth_database.uri,
        mongodb_database="microshop",
        mongodb_password_file=password_file,
    )
    await register(client, "db@example.com")

    # Rotated in the database, not yet in the file: refused, and no new client is made.
    auth_database.set_password(FIRST, SECOND)
    auth_database.stop()
    auth_database.start()
    refused = (503, "the database refused the service's credentials; try again")
    await login_until(client, lambda answer: answer == refused)
    assert app.state.database.renewals == 0

    # The file catches up: the next refusal reads it and signs in again, without a restart.
    write_password(password_file, SECOND)
    seen = await login_until(client, lambda answer: answer[0] == 200)
    assert {status for status, _ in seen} <= {200, 503}
    assert app.state.database.renewals == 1
    products = await client.get("/products")
    assert products.status_code == 200
