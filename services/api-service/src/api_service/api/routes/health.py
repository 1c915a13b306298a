"""Liveness, readiness (pings the database) and Prometheus metrics."""

from __future__ import annotations

import pymongo
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from api_service.api.responses import errors
from api_service.errors import ServiceUnavailable

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready", responses=errors(503))
async def ready(request: Request) -> dict[str, str]:
    """The database answers a ping; 503 otherwise."""
    client: AsyncMongoClient[dict[str, object]] = request.app.state.database.client
    try:
        with pymongo.timeout(2):  # answer probes quickly even when the database hangs
            await client.admin.command("ping")
    except PyMongoError as exc:
        raise ServiceUnavailable("the database is not reachable") from exc
    return {"status": "ready"}


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this process's metrics."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
