"""Settings: required variables, the session secret file, start-up that stops with a message."""

from __future__ import annotations

import logging
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client_service import cli
from client_service.config import ConfigError, Settings, get_settings, load_settings


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "session-secret"
    path.write_text(secrets.token_urlsafe(48) + "\n")
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, secret_file: Path) -> Iterator[pytest.MonkeyPatch]:
    for name in ("API_BASE_URL", "SESSION_SECRET_FILE", "COOKIE_SECURE", "PORT", "HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("API_BASE_URL", "http://api-service:8000/")
    monkeypatch.setenv("SESSION_SECRET_FILE", str(secret_file))
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_settings_read_the_environment_and_the_secret_file(
    env: pytest.MonkeyPatch, secret_file: Path
) -> None:
    settings = load_settings()
    assert settings.api_base == "http://api-service:8000"
    assert settings.session_secret.get_secret_value() == secret_file.read_text().strip()
    assert settings.cookie_secure is True
    assert settings.port == 8080
    assert secret_file.read_text().strip() not in repr(settings)


def test_get_settings_is_built_once(env: pytest.MonkeyPatch) -> None:
    assert get_settings() is get_settings()


def test_cookie_secure_can_be_turned_off_for_local_runs(env: pytest.MonkeyPatch) -> None:
    env.setenv("COOKIE_SECURE", "false")
    assert load_settings().cookie_secure is False


@pytest.mark.parametrize("name", ["API_BASE_URL", "SESSION_SECRET_FILE"])
def test_missing_required_variable_is_named(env: pytest.MonkeyPatch, name: str) -> None:
    env.delenv(name)
    with pytest.raises(ConfigError, match=f"{name}: is required but not set"):
        load_settings()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("changeme", "placeholder"),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "placeholder"),
        ("Sh0rt-but-varied", "fewer than 32 characters"),
    ],
)
def test_placeholder_or_weak_secret_stops_start_up(
    env: pytest.MonkeyPatch, secret_file: Path, content: str, reason: str
) -> None:
    secret_file.write_text(content)
    with pytest.raises(ConfigError, match=f"SESSION_SECRET_FILE: .*{reason}"):
        load_settings()


def test_unreadable_secret_file_is_named(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("SESSION_SECRET_FILE", str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="SESSION_SECRET_FILE: cannot read"):
        load_settings()


@pytest.mark.parametrize("url", ["not a url", "ftp://api:8000", "http://api:8000/?x=1"])
def test_bad_api_base_url_is_named(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("API_BASE_URL", url)
    with pytest.raises(ConfigError, match="API_BASE_URL: "):
        load_settings()


def test_retries_are_bounded(env: pytest.MonkeyPatch) -> None:
    env.setenv("API_RETRIES", "50")
    with pytest.raises(ConfigError, match="API_RETRIES: "):
        load_settings()


def test_cli_exits_2_naming_the_variable(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.delenv("SESSION_SECRET_FILE")
    assert cli.main() == 2
    err = capsys.readouterr().err
    assert "SESSION_SECRET_FILE: is required but not set" in err
    assert "Traceback" not in err


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """cli.main() configures the root logger; put pytest's set-up back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_cli_runs_uvicorn_on_host_and_port(env: pytest.MonkeyPatch) -> None:
    env.setenv("PORT", "9123")
    env.setenv("HOST", "127.0.0.1")
    calls: list[dict[str, Any]] = []
    env.setattr("client_service.cli.uvicorn.run", lambda app, **kwargs: calls.append(kwargs))
    assert cli.main() == 0
    assert calls[0]["host"] == "127.0.0.1"
    assert calls[0]["port"] == 9123
    assert calls[0]["access_log"] is False


def test_module_entry_point_refuses_a_placeholder_secret(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("changeme")
    result = subprocess.run(
        [sys.executable, "-m", "client_service"],
        env={"API_BASE_URL": "http://127.0.0.1:9", "SESSION_SECRET_FILE": str(secret)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "SESSION_SECRET_FILE" in result.stderr
    assert "placeholder" in result.stderr
    assert "Traceback" not in result.stderr


def test_settings_can_be_built_directly_for_tests(secret_file: Path) -> None:
    settings = Settings(api_base_url="http://127.0.0.1:1", session_secret_file=secret_file)
    assert settings.api_retries == 2
