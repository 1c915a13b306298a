"""The public signing keys, for anyone who verifies our tokens."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api_service.api.deps import Tokens

router = APIRouter(tags=["auth"])


@router.get("/.well-known/jwks.json")
async def jwks(tokens: Tokens, response: Response) -> dict[str, list[dict[str, str]]]:
    """The JWK Set with the current public key."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return tokens.jwks()
