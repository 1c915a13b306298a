"""The FastAPI app: lifespan (AsyncMongoClient + init_beanie), middleware, routers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from pymongo.monitoring import CommandListener
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api_service.api.metrics import Metrics
from api_service.api.middleware import (
    BodyLimitMiddleware,
    DatabaseDeadlineMiddleware,
    EnvelopeCORSMiddleware,
    RequestContextMiddleware,
)
from api_service.api.routes import auth, health, jwks, orders, products
from api_service.bootstrap import bootstrap_admin
from api_service.config import Settings, get_settings
from api_service.database import Database
from api_service.errors import install_error_handlers
from api_service.logs import configure_logging
from api_service.models import ensure_order_indexes
from api_service.services import stocklock
from api_service.services.auth import Gate
from api_service.services.keyring import KeyRing
from api_service.services.passwords import PasswordHashing
from api_service.services.ratelimit import AuthLimits, Backoff, LoginLimiter, WindowLimiter
from api_service.services.servertime import server_clock
from api_service.services.settle import Timing
from api_service.services.stockmode import detect_stock_writes
from api_service.services.sweeper import run_sweeper
from api_service.services.tokens import TokenService


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Connect to MongoDB, create indexes, run the one-shot admin bootstrap; close on exit."""
    settings: Settings = app.state.settings
    database = Database(settings, app.state.command_listeners)
    app.state.database = database
    try:
        await database.bind()
        await ensure_order_indexes()
        app.state.stock_writes = await detect_stock_writes(database.client, settings.stock_writes)
        server_clock.forget()
        await server_clock.offset()  # lease expiries and order deadlines use database time
        if settings.admin_email and settings.admin_password_file:
            await bootstrap_admin(
                settings.admin_email,
                settings.admin_password_file,
                "ADMIN_PASSWORD_FILE",
                app.state.auth.passwords,
            )
        sweeper = asyncio.get_running_loop().create_task(
            run_sweeper(
                app.state.stock_writes, app.state.order_timing, settings.order_sweep_seconds
            )
        )
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
    finally:
        await database.close()
        app.state.auth.passwords.close()


def create_app(
    settings: Settings | None = None, command_listeners: Sequence[CommandListener] = ()
) -> FastAPI:
    """Build the app from settings (the environment's when none are given).

    command_listeners: PyMongo command monitors for the app's client (the benchmark and the
    command-count tests count database commands per request with one).
    """
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    app = FastAPI(
        title="MicroShop API",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.command_listeners = tuple(command_listeners)
    app.state.tokens = TokenService(
        KeyRing(
            settings.jwt_private_key_file,
            settings.jwt_previous_keys_file,
            timedelta(
                minutes=settings.jwt_ttl_minutes, seconds=settings.jwt_rotation_grace_seconds
            ),
        ),
        settings.jwt_issuer,
        settings.jwt_audience,
        settings.jwt_ttl_minutes,
    )
    passwords = PasswordHashing(settings.password_hash_concurrency, settings.password_hash_queue)
    app.state.auth = Gate(app.state.tokens, passwords, auth_limits(settings))
    app.state.metrics = Metrics()
    app.state.order_timing = Timing(timedelta(seconds=settings.db_request_timeout_seconds))
    stocklock.configure(settings.db_request_timeout_seconds)
    install_error_handlers(app)
    for router in (health.router, jwks.router, auth.router, products.router, orders.router):
        app.include_router(router)
    app.add_middleware(
        EnvelopeCORSMiddleware,
        allow_origins=settings.cors_allow_origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "X-Request-ID",
            "If-Match",
            "Idempotency-Key",
        ],
        expose_headers=["X-Request-ID", "X-Total-Count", "Link", "ETag"],
        max_age=600,
    )
    app.add_middleware(DatabaseDeadlineMiddleware, seconds=settings.db_request_timeout_seconds)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    # Outermost: everything after it (access log, limits) sees the client the trusted proxy named.
    trusted = [str(network) for network in settings.forwarded_allow_ips]
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
    return app


def key_ring(settings: Settings) -> KeyRing:
    """The signing key files; a retired key stays trusted for the token lifetime plus the grace."""
    ttl = settings.jwt_ttl_minutes
    grace = settings.jwt_rotation_grace_seconds
    retention = timedelta(minutes=ttl, seconds=grace)
    return KeyRing(settings.jwt_private_key_file, settings.jwt_previous_keys_file, retention)


def auth_limits(settings: Settings) -> AuthLimits:
    """The sign-in and registration limits the settings describe."""
    window = settings.login_failure_window_seconds
    cap = settings.login_backoff_max_seconds
    return AuthLimits(
        LoginLimiter(
            by_pair=Backoff(settings.login_failures_before_backoff, cap, window),
            by_client=Backoff(settings.login_client_failures_before_backoff, cap, window),
            by_account=Backoff(
                settings.login_account_failures_before_backoff,
                settings.login_account_backoff_max_seconds,
                window,
            ),
        ),
        WindowLimiter(settings.register_max_per_client, settings.register_window_seconds),
    )
