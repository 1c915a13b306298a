"""`python -m api_service`: check the settings, then serve with uvicorn on HOST:PORT."""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from api_service.bootstrap import read_password_file
from api_service.config import ConfigurationError, describe_settings_error, get_settings
from api_service.server import NoDelayH11Protocol
from api_service.services.signingkeys import load_previous_keys, load_signing_key


def main() -> int:
    """Validate configuration up front (clear message, no traceback), then run the server."""
    try:
        settings = get_settings()
        load_signing_key(settings.jwt_private_key_file)
        if settings.jwt_previous_keys_file is not None:
            load_previous_keys(settings.jwt_previous_keys_file)
        if settings.mongodb_password_file is not None:
            read_password_file(settings.mongodb_password_file, "MONGODB_PASSWORD_FILE")
        if settings.admin_password_file is not None:
            read_password_file(settings.admin_password_file, "ADMIN_PASSWORD_FILE")
    except (ValidationError, ConfigurationError) as exc:
        print(f"api-service: {describe_settings_error(exc)}", file=sys.stderr)
        return 2
    uvicorn.run(
        "api_service.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,
        server_header=False,
        http=NoDelayH11Protocol,
        proxy_headers=False,  # the app resolves X-Forwarded-For itself (main.py), also in tests
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
