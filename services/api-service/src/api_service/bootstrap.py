"""Admin bootstrap from a password file (CLI and one-shot start-up setting); no default password."""

from __future__ import annotations

import logging
from pathlib import Path

from api_service.config import PLACEHOLDER, ConfigurationError
from api_service.services.auth import ensure_admin
from api_service.services.passwords import PasswordHashing

logger = logging.getLogger(__name__)

MIN_ADMIN_PASSWORD = 12
MAX_PASSWORD = 128


def read_password_file(path: Path, variable: str) -> str:
    """The password in path (one trailing newline stripped); rejects short or placeholder ones."""
    try:
        password = path.read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"{variable}: cannot read {path}: {exc.__class__.__name__}"
        ) from exc
    if PLACEHOLDER.search(password) or password.lower() in {"password", "admin", "secret"}:
        raise ConfigurationError(f"{variable}: {path} holds a placeholder, not a password")
    if not MIN_ADMIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        bounds = f"{MIN_ADMIN_PASSWORD}-{MAX_PASSWORD}"
        message = f"{variable}: the password in {path} must be {bounds} characters"
        raise ConfigurationError(message)
    return password


async def bootstrap_admin(
    email: str, password_file: Path, variable: str, passwords: PasswordHashing | None = None
) -> str:
    """Ensure email is an admin with the file's password; idempotent once it is one."""
    password = read_password_file(password_file, variable)
    outcome = await ensure_admin(email.lower(), password, passwords)
    logger.info("admin bootstrap", extra={"outcome": outcome})
    return outcome
