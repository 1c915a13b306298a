"""The client-service app: settings, API client lifespan, middleware, routers, error pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from client_service.api_client import ApiClient
from client_service.config import Settings, get_settings
from client_service.handlers import install_handlers
from client_service.middleware import RequestContextMiddleware
from client_service.routes import account, health, orders, products
from client_service.web import PACKAGE_DIR, verify_csrf


def create_app(
    settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """Build the storefront; tests pass their own settings (and a transport for unit tests)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.api = ApiClient.from_settings(settings, transport)
        try:
            yield
        finally:
            await app.state.api.aclose()

    app = FastAPI(
        title="MicroShop storefront",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(verify_csrf)],
    )
    app.state.settings = settings
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret.get_secret_value(),
        # The __Host- prefix makes browsers refuse the cookie unless Secure, host-only, path /.
        session_cookie="__Host-session" if settings.cookie_secure else "session",
        max_age=settings.session_max_age_seconds,
        same_site="strict",
        https_only=settings.cookie_secure,
    )
    app.add_middleware(RequestContextMiddleware, hsts=settings.cookie_secure)
    # Outermost: the request context sees the visitor named by a trusted proxy, not the proxy.
    trusted = [str(network) for network in settings.forwarded_allow_ips]
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
    app.mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static")
    for router in (health.router, products.router, account.router, orders.router):
        app.include_router(router)
    install_handlers(app)
    return app
