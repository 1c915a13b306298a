"""The database client, built from MONGODB_URI and MONGODB_PASSWORD_FILE, renewed on rotation.

With MONGODB_PASSWORD_FILE the URI names the user and the file holds the password, as a secret
store's agent renders it. When the password is rotated, connections already open stay signed in,
and the first new connection fails authentication: the request is answered 503 (retry), the file
is read again, and if it changed a new client signed in with it replaces the old one (Beanie's
documents are bound to it again); the old client is closed once requests still using it are past
their deadline. Renewals are serialised and at most one a second, so a wrong password cannot
make the service hammer the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from beanie import init_beanie
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from pymongo.monitoring import CommandListener

from api_service.bootstrap import read_password_file
from api_service.config import ConfigurationError, Settings
from api_service.models import DOCUMENT_MODELS

logger = logging.getLogger(__name__)

RENEW_INTERVAL_SECONDS = 1.0

Client = AsyncMongoClient[dict[str, Any]]


def password(settings: Settings) -> str | None:
    """The password from MONGODB_PASSWORD_FILE (None without one: the URI says everything)."""
    if settings.mongodb_password_file is None:
        return None
    return read_password_file(settings.mongodb_password_file, "MONGODB_PASSWORD_FILE")


def new_client(
    settings: Settings, secret: str | None, listeners: Sequence[CommandListener] = ()
) -> Client:
    """A client for the settings' URI, signed in with secret when there is one."""
    credentials: dict[str, Any] = {} if secret is None else {"password": secret}
    return AsyncMongoClient(
        settings.mongodb_uri.get_secret_value(),
        serverSelectionTimeoutMS=5_000,
        tz_aware=True,
        event_listeners=list(listeners),
        **credentials,
    )


class Database:
    """The app's one client; renew() replaces it when the password file has changed."""

    def __init__(self, settings: Settings, listeners: Sequence[CommandListener] = ()) -> None:
        self.settings = settings
        self.listeners = tuple(listeners)
        self._password = password(settings)
        self.client = new_client(settings, self._password, self.listeners)
        self.renewals = 0
        self._lock = asyncio.Lock()
        self._last_try = float("-inf")
        self._retiring: set[asyncio.Task[None]] = set()

    async def bind(self) -> None:
        """Bind Beanie's documents to this client's database."""
        database = self.client[self.settings.mongodb_database]
        await init_beanie(database=database, document_models=DOCUMENT_MODELS)

    async def renew(self) -> bool:
        """Sign in again if the password file changed; True when a new client took over."""
        async with self._lock:
            if time.monotonic() - self._last_try < RENEW_INTERVAL_SECONDS:
                return False
            self._last_try = time.monotonic()
            try:
                fresh = password(self.settings)
            except ConfigurationError as exc:
                logger.error("database refused the credentials; %s", exc)  # noqa: TRY400 - one line
                return False
            if fresh == self._password:
                logger.warning("database refused the credentials; the password file is unchanged")
                return False
            candidate = new_client(self.settings, fresh, self.listeners)
            try:
                await candidate.admin.command("ping")  # signs a new connection in
            except PyMongoError as exc:
                await candidate.close()
                logger.warning("database refused the new password too: %s", type(exc).__name__)
                return False
            old, self.client, self._password = self.client, candidate, fresh
            await self.bind()
            self.renewals += 1
            logger.info("database password renewed: signed in again with the new password")
            task = asyncio.get_running_loop().create_task(self._retire(old))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
            return True

    async def _retire(self, old: Client) -> None:
        """Close a replaced client once requests that still hold it are past their deadline."""
        try:
            await asyncio.sleep(self.settings.db_request_timeout_seconds)
        finally:
            await old.close()

    async def close(self) -> None:
        """Close the client and any replaced one still open."""
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        await self.client.close()
