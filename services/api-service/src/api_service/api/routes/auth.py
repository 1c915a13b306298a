"""Register and log in; both answer with a bearer token."""

from __future__ import annotations

from fastapi import APIRouter, status

from api_service.api.deps import AuthGate, Client
from api_service.api.responses import errors
from api_service.schemas.auth import Credentials, TokenOut, user_out
from api_service.services import auth
from api_service.services.auth import Gate, Session

router = APIRouter(prefix="/auth", tags=["auth"])


def _token_out(session: Session, gate: Gate) -> TokenOut:
    expires_in = int(gate.tokens.ttl.total_seconds())
    return TokenOut(token=session.token, expires_in=expires_in, user=user_out(session.user))


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 409, 413, 422, 429, 503),
)
async def register(body: Credentials, client: Client, gate: AuthGate) -> TokenOut:
    """Create an account (role "user") and sign it in."""
    session = await auth.register(body.email, body.password, client, gate)
    return _token_out(session, gate)


@router.post("/login", responses=errors(400, 401, 413, 422, 429, 503))
async def login(body: Credentials, client: Client, gate: AuthGate) -> TokenOut:
    """Exchange email and password for a token."""
    session = await auth.login(body.email, body.password, client, gate)
    return _token_out(session, gate)
