"""Logs: JSON lines with the request id; never a password, token or Authorization header."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from api_service.logs import redact
from tests.services.api_service.conftest import USER_PASSWORD, bearer

StartApp = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]


async def test_logs_are_json_with_request_id_and_hold_no_secrets(
    start_app: StartApp, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, client = await start_app(log_level="DEBUG")
    creds = {"email": "logged@example.com", "password": USER_PASSWORD}
    token = (await client.post("/auth/register", json=creds)).json()["token"]
    await client.post("/auth/login", json={**creds, "password": "wrong-password-xyz"})
    await client.get("/orders/me", headers={**bearer(token), "X-Request-ID": "trace-me-0001"})
    await client.post("/auth/register", json={"email": "x", "password": "echo-me-please"})
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    access = [r for r in records if r["logger"] == "api_service.access"]
    assert [r["route"] for r in access] == [
        "/auth/register",
        "/auth/login",
        "/orders/me",
        "/auth/register",
    ]
    assert access[2]["request_id"] == "trace-me-0001"
    assert access[2]["status"] == 200
    everything = "\n".join(lines) + "\n".join(
        f"{r.getMessage()} {r.__dict__}" for r in caplog.records
    )
    for secret in (USER_PASSWORD, "wrong-password-xyz", "echo-me-please", token, token[:40]):
        assert secret not in everything


def test_redact_masks_tokens_passwords_and_uri_credentials() -> None:
    text = (
        "Authorization: Bearer abc.def.ghi token=eyJhbGciOi.eyJzdWIi.c2ln "
        '{"password": "hunter22"} mongodb://user:s3cret@db:27017/'
    )
    cleaned = redact(text)
    for secret in ("abc.def.ghi", "eyJhbGciOi", "hunter22", "s3cret"):
        assert secret not in cleaned
    assert "mongodb://user:[REDACTED]@db:27017/" in cleaned


def test_filter_redacts_a_careless_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    from api_service.logs import configure_logging  # noqa: PLC0415

    configure_logging("INFO")
    logging.getLogger("careless").info("got header %s", "Bearer eyJx.eyJy.sig")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["message"] == "got header Bearer [REDACTED]"
    assert line["request_id"] == "-"
