"""Settings refuse missing or placeholder secrets, naming the variable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from api_service.config import Settings, describe_settings_error, get_settings

REQUIRED = ("MONGODB_URI", "JWT_PRIVATE_KEY_FILE")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, signing_key_file: Path) -> Callable[..., Settings]:
    """Build Settings from a controlled environment only."""
    for name in (*REQUIRED, "ADMIN_EMAIL", "ADMIN_PASSWORD_FILE", "CORS_ALLOW_ORIGINS"):
        monkeypatch.delenv(name, raising=False)

    def build(**values: str) -> Settings:
        base = {"MONGODB_URI": "mongodb://db:27017/", "JWT_PRIVATE_KEY_FILE": str(signing_key_file)}
        for name, value in {**base, **values}.items():
            if value == "":
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        try:
            return get_settings()
        finally:
            get_settings.cache_clear()

    return build


def error_text(build: Callable[..., Settings], **values: str) -> str:
    with pytest.raises(ValidationError) as caught:
        build(**values)
    return describe_settings_error(caught.value)


def test_defaults_follow_the_contract(env: Callable[..., Settings]) -> None:
    settings = env()
    assert settings.mongodb_database == "microshop"
    assert settings.jwt_ttl_minutes == 15
    assert settings.port == 8000
    assert settings.host == "127.0.0.1"
    assert settings.cors_allow_origins == []
    assert settings.admin_email is None


@pytest.mark.parametrize("name", REQUIRED)
def test_missing_required_variable_is_named(env: Callable[..., Settings], name: str) -> None:
    assert f"{name.upper()}: is required but not set" in error_text(env, **{name: ""})


@pytest.mark.parametrize("value", ["changeme", "<mongodb-uri>", "http://db", "   "])
def test_placeholder_database_uri_is_refused(env: Callable[..., Settings], value: str) -> None:
    text = error_text(env, MONGODB_URI=value)
    assert text.startswith("invalid configuration:\n  MONGODB_URI: ")
    assert "placeholder" in text


def test_key_file_that_does_not_exist_is_refused(env: Callable[..., Settings]) -> None:
    text = error_text(env, JWT_PRIVATE_KEY_FILE="/nonexistent/key.pem")
    assert "JWT_PRIVATE_KEY_FILE: Value error, file /nonexistent/key.pem does not exist" in text


def test_admin_email_without_password_file_is_refused(env: Callable[..., Settings]) -> None:
    text = error_text(env, ADMIN_EMAIL="boss@example.com")
    assert "ADMIN_EMAIL and ADMIN_PASSWORD_FILE must be set together" in text


def test_cors_origins_are_a_comma_separated_allow_list(env: Callable[..., Settings]) -> None:
    settings = env(CORS_ALLOW_ORIGINS="https://shop.example.com, http://localhost:8080")
    assert settings.cors_allow_origins == ["https://shop.example.com", "http://localhost:8080"]


@pytest.mark.parametrize("origin", ["*", "https://shop.example.com/path", "shop.example.com"])
def test_cors_wildcards_and_non_origins_are_refused(
    env: Callable[..., Settings], origin: str
) -> None:
    assert "CORS_ALLOW_ORIGINS: " in error_text(env, CORS_ALLOW_ORIGINS=origin)


def test_describe_passes_other_errors_through() -> None:
    assert describe_settings_error(RuntimeError("JWT_PRIVATE_KEY_FILE: bad")) == (
        "JWT_PRIVATE_KEY_FILE: bad"
    )


def test_forwarded_allow_ips_is_a_list_of_networks(env: Callable[..., Settings]) -> None:
    assert [str(n) for n in env().forwarded_allow_ips] == ["127.0.0.1/32"]
    settings = env(FORWARDED_ALLOW_IPS="127.0.0.6, 10.0.0.0/8,fd00::/8")
    assert [str(n) for n in settings.forwarded_allow_ips] == [
        "127.0.0.6/32",
        "10.0.0.0/8",
        "fd00::/8",
    ]


def test_trusting_every_peer_is_refused(env: Callable[..., Settings]) -> None:
    text = error_text(env, FORWARDED_ALLOW_IPS="10.0.0.0/8,*")
    assert "FORWARDED_ALLOW_IPS: Value error, '*' would let any peer choose its client" in text


def test_failures_must_be_remembered_as_long_as_the_longest_wait(
    env: Callable[..., Settings],
) -> None:
    text = error_text(env, LOGIN_BACKOFF_MAX_SECONDS="900", LOGIN_FAILURE_WINDOW_SECONDS="600")
    assert "LOGIN_FAILURE_WINDOW_SECONDS must be at least LOGIN_BACKOFF_MAX_SECONDS" in text


def test_previous_keys_file_that_does_not_exist_is_refused(env: Callable[..., Settings]) -> None:
    text = error_text(env, JWT_PREVIOUS_KEYS_FILE="/nonexistent/previous-keys.json")
    assert (
        "JWT_PREVIOUS_KEYS_FILE: Value error, file /nonexistent/previous-keys.json does not exist"
        in text
    )


@pytest.mark.parametrize(
    "uri", ["mongodb://db:27017/", "mongodb://api:inline-password@db:27017/?authSource=admin"]
)
def test_password_file_needs_a_uri_with_the_user_and_no_password(
    env: Callable[..., Settings], uri: str, signing_key_file: Path
) -> None:
    text = error_text(env, MONGODB_URI=uri, MONGODB_PASSWORD_FILE=str(signing_key_file))
    assert (
        "MONGODB_PASSWORD_FILE needs a MONGODB_URI that names the user and holds no password"
        in text
    )
