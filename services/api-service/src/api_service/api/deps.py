"""Shared dependencies: app services, the signed-in user, the admin, a product, a page, If-Match."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api_service.errors import Forbidden, Unauthorized
from api_service.etags import IF_MATCH_PATTERN, IfMatch, parse_if_match
from api_service.models import Product, Role, User
from api_service.services import auth, products
from api_service.services.auth import Gate
from api_service.services.ratelimit import client_key
from api_service.services.stockmode import StockWrites
from api_service.services.tokens import TokenService

MAX_PAGE = 100

_bearer = HTTPBearer(auto_error=False)


def get_tokens(request: Request) -> TokenService:
    """The app's token service."""
    tokens: TokenService = request.app.state.tokens
    return tokens


def get_auth_gate(request: Request) -> Gate:
    """The app's token service, bounded password hashing and (per-process) auth limits."""
    gate: Gate = request.app.state.auth
    return gate


def get_client(request: Request) -> str:
    """The client's address as the limits key it: the peer, or the X-Forwarded-For it sent
    when the peer is a trusted proxy (resolved by the proxy-headers middleware)."""
    return client_key(request.client.host if request.client else None)


def get_stock_writes(request: Request) -> StockWrites:
    """How this app serialises stock writes (detected at start-up)."""
    mode: StockWrites = request.app.state.stock_writes
    return mode


async def get_current_user(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    tokens: Annotated[TokenService, Depends(get_tokens)],
) -> User:
    """The user named by a valid bearer token; 401 otherwise."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required")
    claims = tokens.verify(credentials.credentials)
    return await auth.user_for_subject(claims.subject)


async def get_admin(user: Annotated[User, Depends(get_current_user)]) -> User:
    """The current user, if an admin (role read from the database, not the token); 403 otherwise."""
    if user.role != Role.ADMIN:
        raise Forbidden("this needs an admin account")
    return user


async def get_product(product_id: str) -> Product:
    """The product named in the path; 404 when unknown or malformed."""
    return await products.get_product(product_id)


def get_if_match(
    request: Request,
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='The ETag read (e.g. "3"): the write lands only on that version,'
            " else 412. Required when PUT writes stock.",
            # Published, not enforced here (parse_if_match answers 400 naming the header). A header
            # is a string when present: without the type, `str | None` would publish null as valid.
            json_schema_extra={"type": "string", "pattern": IF_MATCH_PATTERN},
        ),
    ] = None,
) -> IfMatch | None:
    """The request's If-Match (every If-Match line, read as one list); 400 when malformed."""
    if if_match is None:
        return None
    return parse_if_match(", ".join(request.headers.getlist("If-Match")))


@dataclass(frozen=True)
class PageParams:
    """limit/offset from the query string, bounded."""

    limit: int
    offset: int

    def headers(self, response: Response, request: Request, total: int) -> None:
        """Set X-Total-Count and a Link header with next/prev pages."""
        response.headers["X-Total-Count"] = str(total)
        links = []
        if self.offset + self.limit < total:
            url = request.url.include_query_params(
                limit=self.limit, offset=self.offset + self.limit
            )
            links.append(f'<{url}>; rel="next"')
        if self.offset > 0:
            prev = max(0, self.offset - self.limit)
            url = request.url.include_query_params(limit=self.limit, offset=prev)
            links.append(f'<{url}>; rel="prev"')
        if links:
            response.headers["Link"] = ", ".join(links)


def get_page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> PageParams:
    """Pagination parameters for list routes."""
    return PageParams(limit, offset)


CurrentUser = Annotated[User, Depends(get_current_user)]
Admin = Annotated[User, Depends(get_admin)]
ProductById = Annotated[Product, Depends(get_product)]
Page = Annotated[PageParams, Depends(get_page)]
Tokens = Annotated[TokenService, Depends(get_tokens)]
AuthGate = Annotated[Gate, Depends(get_auth_gate)]
Client = Annotated[str, Depends(get_client)]
StockWritesMode = Annotated[StockWrites, Depends(get_stock_writes)]
IfMatchHeader = Annotated[IfMatch | None, Depends(get_if_match)]
