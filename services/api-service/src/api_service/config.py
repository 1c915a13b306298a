"""Service settings: one Settings class read from the environment, built once by get_settings()."""

from __future__ import annotations

import re
from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import EmailStr, Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER = re.compile(r"^\s*$|change[-_ ]?me|placeholder|replace[-_ ]?me|^<.*>$|^todo$", re.I)

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Everything the api-service reads from its environment; secrets have no defaults."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    mongodb_uri: SecretStr
    # The database password, kept out of the URI (which then names the user only): re-read when
    # the database refuses it, so a rotation needs no restart (database.py).
    mongodb_password_file: Path | None = None
    mongodb_database: str = Field(default="microshop", pattern=r"^[A-Za-z0-9_-]{1,63}$")
    jwt_private_key_file: Path
    jwt_issuer: str = Field(default="microshop-api", min_length=1)
    jwt_audience: str = Field(default="microshop", min_length=1)
    jwt_ttl_minutes: int = Field(default=15, ge=1, le=120)
    # Keys that signed before the current one (rendered beside it by the secret store's agent):
    # their tokens stay valid, and the keys published, until retired_at + TTL + the grace (how
    # late a replica may still sign with a retired key: the agent's render interval plus the
    # one-second file check). See services/keyring.py and docs/secrets.md.
    jwt_previous_keys_file: Path | None = None
    jwt_rotation_grace_seconds: int = Field(default=120, ge=0, le=3_600)
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    admin_email: EmailStr | None = None
    admin_password_file: Path | None = None
    log_level: LogLevel = "INFO"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    # Peers whose X-Forwarded-For names the client (addresses or CIDRs, comma-separated): the
    # storefront, which sends the address its visitor connected from. The client address keys
    # the sign-in and registration limits; from any other peer the header is ignored.
    forwarded_allow_ips: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=lambda: [ip_network("127.0.0.1/32")]
    )
    max_body_bytes: int = Field(default=65_536, ge=1_024, le=10_485_760)
    # Password hashing (argon2id, 19 MiB a hash): hashes run at once, and requests allowed to
    # wait for one; past that, 503 with Retry-After at once. Memory is bounded by the first.
    password_hash_concurrency: int = Field(default=1, ge=1, le=8)
    password_hash_queue: int = Field(default=32, ge=0, le=1_024)
    # Sign-in limits (services/ratelimit.py): failures allowed before each further attempt waits
    # 1 s, 2 s, 4 s... per account and client, and per client over all accounts; per account
    # over all clients, a shorter backoff that only applies to clients that failed on it, so
    # the owner on another device is never locked out. Failures are forgotten after the window.
    login_failures_before_backoff: int = Field(default=5, ge=1, le=1_000_000)
    login_client_failures_before_backoff: int = Field(default=20, ge=1, le=1_000_000)
    login_account_failures_before_backoff: int = Field(default=10, ge=1, le=1_000_000)
    login_backoff_max_seconds: int = Field(default=900, ge=1, le=86_400)
    login_account_backoff_max_seconds: int = Field(default=60, ge=1, le=3_600)
    login_failure_window_seconds: int = Field(default=3_600, ge=1, le=86_400)
    # Registrations per client address within the window.
    register_max_per_client: int = Field(default=20, ge=1, le=1_000_000)
    register_window_seconds: int = Field(default=3_600, ge=1, le=86_400)
    # How orders take stock: "auto" asks the server at start-up (FerretDB needs the per-product
    # lease, a MongoDB replica set commits an order in one transaction, a standalone MongoDB uses
    # the plain conditional update); the others force a mode (tests, or a proxy that hides what
    # the server is). A forced "transaction" is still refused on a server without transactions.
    stock_writes: Literal["auto", "lease", "conditional", "transaction"] = "auto"
    # Deadline for the database work of one request (PyMongo's client-side timeout): past it the
    # request is answered 503 instead of hanging on a database that does not answer. It covers
    # the wait for a busy product's lease (up to 10 s on FerretDB), hence 15; a database that is
    # down is noticed sooner (server selection gives up after 5 s).
    db_request_timeout_seconds: float = Field(default=15.0, gt=0, le=60)
    # How often each process's sweeper finishes orders and stock left undone (it also runs at
    # start-up); see services/sweeper.py.
    order_sweep_seconds: float = Field(default=10.0, gt=0, le=3600)

    @field_validator("mongodb_uri")
    @classmethod
    def _uri_is_real(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if PLACEHOLDER.search(secret) or not secret.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must be a mongodb:// or mongodb+srv:// URI, not a placeholder")
        return value

    @field_validator(
        "jwt_private_key_file",
        "jwt_previous_keys_file",
        "admin_password_file",
        "mongodb_password_file",
    )
    @classmethod
    def _file_is_readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist or is not a regular file")
        return value

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins_are_explicit(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
                raise ValueError(f"{origin!r} is not an origin like https://shop.example.com")
        return value

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _split_peers(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            if "*" in parts:
                raise ValueError("'*' would let any peer choose its client address; list peers")
            return parts
        return value

    @model_validator(mode="after")
    def _window_outlasts_backoff(self) -> Settings:
        longest = max(self.login_backoff_max_seconds, self.login_account_backoff_max_seconds)
        if self.login_failure_window_seconds < longest:
            raise ValueError(
                "LOGIN_FAILURE_WINDOW_SECONDS must be at least LOGIN_BACKOFF_MAX_SECONDS and"
                " LOGIN_ACCOUNT_BACKOFF_MAX_SECONDS (failures would be forgotten mid-wait)"
            )
        return self

    @model_validator(mode="after")
    def _password_file_has_a_user(self) -> Settings:
        if self.mongodb_password_file is None:
            return self
        parts = urlsplit(self.mongodb_uri.get_secret_value())
        if not parts.username or parts.password is not None:
            raise ValueError(
                "MONGODB_PASSWORD_FILE needs a MONGODB_URI that names the user and holds no"
                " password (mongodb://USER@HOST/?authSource=...)"
            )
        return self

    @model_validator(mode="after")
    def _admin_bootstrap_is_complete(self) -> Settings:
        if (self.admin_email is None) != (self.admin_password_file is None):
            raise ValueError("ADMIN_EMAIL and ADMIN_PASSWORD_FILE must be set together")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Build the settings once per process (tests pass their own Settings to create_app)."""
    return Settings()  # values come from the environment


def describe_settings_error(error: Exception) -> str:
    """Turn a settings ValidationError into one line per variable, naming the variable."""
    from pydantic import ValidationError  # noqa: PLC0415

    if not isinstance(error, ValidationError):
        return str(error)
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        name = "_".join(str(part) for part in item["loc"]).upper() or "settings"
        message = "is required but not set" if item["type"] == "missing" else item["msg"]
        lines.append(f"{name}: {message}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


class ConfigurationError(Exception):
    """A setting is present but unusable (e.g. a key file that is not a key); names the variable."""
