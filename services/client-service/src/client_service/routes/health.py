"""Liveness, readiness (the API answers) and the original /check-api pass-through."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from client_service.errors import ApiError
from client_service.web import Api

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready", response_model=None)
async def ready(api: Api) -> dict[str, str] | JSONResponse:
    """Ready when the API's /health answers; 503 otherwise."""
    try:
        await api.health()
    except ApiError:
        return JSONResponse({"status": "unavailable", "api": "unreachable"}, status_code=503)
    return {"status": "ready"}


@router.get("/check-api", response_model=None)
async def check_api(api: Api) -> dict[str, Any] | JSONResponse:
    """The API's /health answer, or 502 with the error."""
    try:
        return await api.health()
    except ApiError as exc:
        return JSONResponse({"error": {"code": "api_unavailable", "message": str(exc)}}, 502)
