"""`api-service create-admin`: creates, is idempotent, takes over a squatted email, clear errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from api_service.cli import main
from api_service.config import Settings, get_settings

ADMIN_PASSWORD = "a-long-admin-password"


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, make_settings: object, tmp_path: Path
) -> Iterator[Settings]:
    """Environment for the CLI pointing at this test's own database."""
    assert callable(make_settings)
    settings: Settings = make_settings()
    monkeypatch.setenv("MONGODB_URI", settings.mongodb_uri.get_secret_value())
    monkeypatch.setenv("MONGODB_DATABASE", settings.mongodb_database)
    monkeypatch.setenv("JWT_PRIVATE_KEY_FILE", str(settings.jwt_private_key_file))
    for name in ("ADMIN_EMAIL", "ADMIN_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()
    client: MongoClient[dict[str, object]] = MongoClient(settings.mongodb_uri.get_secret_value())
    client.drop_database(settings.mongodb_database)
    client.close()


def users(settings: Settings) -> list[dict[str, object]]:
    client: MongoClient[dict[str, object]] = MongoClient(settings.mongodb_uri.get_secret_value())
    try:
        return list(client[settings.mongodb_database]["users"].find({}, {"_id": 0}))
    finally:
        client.close()


def password_file(tmp_path: Path, text: str = ADMIN_PASSWORD + "\n") -> str:
    path = tmp_path / "admin-password"
    path.write_text(text)
    return str(path)


def test_create_admin_creates_then_is_idempotent(
    cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "create-admin",
        "--email",
        "Boss@Example.com",
        "--password-file",
        password_file(tmp_path),
    ]
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == "admin boss@example.com: created"
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == "admin boss@example.com: exists"
    (user,) = users(cli_env)
    assert (user["email"], user["role"]) == ("boss@example.com", "admin")
    assert str(user["password_hash"]).startswith("$argon2id$")


def test_create_admin_takes_over_a_squatted_account(
    cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(cli_env.mongodb_uri.get_secret_value())
    client[cli_env.mongodb_database]["users"].insert_one(
        {"email": "boss@example.com", "password_hash": "squatter-hash", "role": "user"}
    )
    client.close()
    args = [
        "create-admin",
        "--email",
        "boss@example.com",
        "--password-file",
        password_file(tmp_path),
    ]
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == "admin boss@example.com: promoted"
    (user,) = users(cli_env)
    assert user["role"] == "admin"
    assert user["password_hash"] != "squatter-hash"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("changeme\n", "holds a placeholder"),
        ("short\n", "must be 12-128 characters"),
        ("", "holds a placeholder"),
    ],
)
def test_create_admin_refuses_weak_password_files(
    cli_env: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    message: str,
) -> None:
    path = password_file(tmp_path, content)
    assert main(["create-admin", "--email", "boss@example.com", "--password-file", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith("api-service: --password-file: ")
    assert path in err
    assert message in err
    assert "Traceback" not in err
    assert users(cli_env) == []


def test_create_admin_names_a_missing_password_file(
    cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope")
    assert main(["create-admin", "--email", "boss@example.com", "--password-file", missing]) == 2
    assert f"--password-file: cannot read {missing}" in capsys.readouterr().err


def test_create_admin_refuses_a_bad_email(
    cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["create-admin", "--email", "boss", "--password-file", password_file(tmp_path)]
    assert main(args) == 2
    assert "--email: 'boss' is not a valid email address" in capsys.readouterr().err


def test_create_admin_names_missing_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.delenv("JWT_PRIVATE_KEY_FILE", raising=False)
    get_settings.cache_clear()
    args = [
        "create-admin",
        "--email",
        "boss@example.com",
        "--password-file",
        password_file(tmp_path),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "MONGODB_URI: is required but not set" in err
    assert "JWT_PRIVATE_KEY_FILE: is required but not set" in err
    get_settings.cache_clear()


def test_create_admin_reports_an_unreachable_database(
    cli_env: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.conftest import free_port  # noqa: PLC0415

    monkeypatch.setenv(
        "MONGODB_URI", f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=300"
    )
    get_settings.cache_clear()
    args = [
        "create-admin",
        "--email",
        "boss@example.com",
        "--password-file",
        password_file(tmp_path),
    ]
    assert main(args) == 1
    assert capsys.readouterr().err.startswith(
        "api-service: database error: ServerSelectionTimeoutError"
    )
