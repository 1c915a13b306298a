"""Command line entry point: check the configuration, set up logs, run uvicorn."""

from __future__ import annotations

import sys

import uvicorn

from client_service.config import ConfigError, get_settings
from client_service.logs import configure_logging
from client_service.main import create_app


def main() -> int:
    """Run the storefront on HOST:PORT; a bad configuration exits 2 naming the variable."""
    try:
        settings = get_settings()
    except ConfigError as exc:
        print(f"client-service: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # the app resolves X-Forwarded-For from trusted proxies (main.py)
        server_header=False,
    )
    return 0
