"""Register and log in; both answer with a bearer token."""

from __future__ import annotations

from fastapi import APIRouter, status

from api_service.api.deps import Client, Limits, Passwords, Tokens
from api_service.api.responses import errors
from api_service.schemas.auth import Credentials, TokenOut, user_out
from api_service.services import auth
from api_service.services.auth import Session

router = APIRouter(prefix="/auth", tags=["auth"])


def _token_out(session: Session, tokens: Tokens) -> TokenOut:
    expires_in = int(tokens.ttl.total_seconds())
    return TokenOut(token=session.token, expires_in=expires_in, user=user_out(session.user))


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 409, 413, 422, 429, 503),
)
async def register(
    body: Credentials, client: Client, tokens: Tokens, passwords: Passwords, limits: Limits
) -> TokenOut:
    """Create an account (role "user") and sign it in."""
    session = await auth.register(body.email, body.password, client, tokens, passwords, limits)
    return _token_out(session, tokens)


@router.post("/login", responses=errors(400, 401, 413, 422, 429, 503))
async def login(
    body: Credentials, client: Client, tokens: Tokens, passwords: Passwords, limits: Limits
) -> TokenOut:
    """Exchange email and password for a token."""
    session = await auth.login(body.email, body.password, client, tokens, passwords, limits)
    return _token_out(session, tokens)
