"""Settings for client-service, read once from the environment (and the session secret file)."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated

from pydantic import (
    AnyHttpUrl,
    Field,
    IPvAnyNetwork,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_LENGTH = 32
PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "change_me", "secret", "placeholder", "example", "todo", "xxx"}
)


class ConfigError(Exception):
    """The environment does not describe a runnable service; the message names the variable."""


class Settings(BaseSettings):
    """Every setting client-service reads; nothing else touches os.environ."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    api_base_url: AnyHttpUrl
    session_secret_file: Path
    cookie_secure: bool = True
    log_level: Annotated[str, Field(pattern=r"^(?i:DEBUG|INFO|WARNING|ERROR|CRITICAL)$")] = "INFO"
    host: str = "127.0.0.1"  # images, compose and k8s set HOST=0.0.0.0 explicitly
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    api_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    # Placing an order: longer than the API's own deadline for it (DB_REQUEST_TIMEOUT_SECONDS,
    # 15 s by default), so the storefront never gives up on an order the API is still placing.
    api_order_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 20.0
    api_connect_timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 2.0
    api_retries: Annotated[int, Field(ge=0, le=5)] = 2
    api_retry_backoff_seconds: Annotated[float, Field(ge=0, le=5)] = 0.2
    session_max_age_seconds: Annotated[int, Field(ge=60, le=86400)] = 3600
    # Proxies in front of the storefront (addresses or CIDRs, comma-separated) whose
    # X-Forwarded-For names the visitor; the visitor's address is sent on to the API, whose
    # sign-in and registration limits key on it. From any other peer the header is ignored.
    forwarded_allow_ips: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=lambda: [ip_network("127.0.0.1/32")]
    )

    _session_secret: SecretStr = PrivateAttr()

    @field_validator("api_base_url")
    @classmethod
    def _no_path_query(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        if value.query or value.fragment:
            raise ValueError("must not carry a query or fragment")
        return value

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            if "*" in parts:
                raise ValueError("'*' would let any visitor choose its address; list proxies")
            return parts
        return value

    @field_validator("session_secret_file")
    @classmethod
    def _secret_is_real(cls, path: Path) -> Path:
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
        if secret.lower() in PLACEHOLDER_SECRETS or len(set(secret)) < 8:
            raise ValueError(f"{path} holds a placeholder, not a secret")
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"{path} holds fewer than {MIN_SECRET_LENGTH} characters")
        return path

    @model_validator(mode="after")
    def _keep_session_secret(self) -> Settings:
        self._session_secret = SecretStr(
            self.session_secret_file.read_text(encoding="utf-8").strip()
        )
        return self

    @property
    def session_secret(self) -> SecretStr:
        """The key that signs session cookies."""
        return self._session_secret

    @property
    def api_base(self) -> str:
        """The API's base URL without a trailing slash."""
        return str(self.api_base_url).rstrip("/")


def load_settings() -> Settings:
    """Build the settings, turning validation errors into one message naming each variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            name = "_".join(str(part) for part in error["loc"]).upper() or "configuration"
            message = "is required but not set" if error["type"] == "missing" else error["msg"]
            problems.append(f"{name}: {str(message).removeprefix('Value error, ')}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built once (tests call get_settings.cache_clear())."""
    return load_settings()
