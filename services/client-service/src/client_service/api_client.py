"""An httpx client for api-service: timeouts, bounded retries on GET, request ids, domain errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from client_service.config import Settings
from client_service.context import REQUEST_ID_HEADER, current_client_address, current_request_id
from client_service.errors import (
    REJECTIONS,
    ApiBadGatewayError,
    ApiError,
    ApiRejectedError,
    ApiUnavailableError,
)
from client_service.schemas import AuthResult, Order, Product

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({502, 503, 504})
FORWARDED_FOR_HEADER = "X-Forwarded-For"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENCY_HEADER = "Idempotency-Key"
ORDER_TIMEOUT = httpx.Timeout(20.0, connect=2.0)
T = TypeVar("T", bound=BaseModel)


def error_from_response(response: httpx.Response) -> ApiError:
    """Map an API error answer (the JSON envelope, or anything else) to a domain error."""
    code, message, request_id = "error", "", response.headers.get(REQUEST_ID_HEADER)
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        envelope = body.get("error", body)
        if isinstance(envelope, Mapping):
            code = str(envelope.get("code") or code)
            message = _message_of(envelope.get("message") or envelope.get("detail"))
            details = _message_of(envelope.get("details"))
            if details:
                message = f"{message}: {details}" if message else details
            request_id = str(envelope.get("request_id") or request_id or "") or None
        elif isinstance(envelope, str):
            message = envelope
    status = response.status_code
    if status >= 500:
        return ApiBadGatewayError(status, message or "the API failed", code, request_id)
    rejection = REJECTIONS.get(status, ApiRejectedError)
    return rejection(
        status, message or response.reason_phrase or "request refused", code, request_id
    )


def _message_of(value: object) -> str:
    """A readable message from a string, or from a FastAPI-style list of validation errors."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "; ".join(_detail_of(item) for item in value)
    return ""


def _detail_of(item: object) -> str:
    """One validation problem as "field: why" (the field is the last part of its location)."""
    if not isinstance(item, Mapping):
        return str(item)
    loc = item.get("loc")
    where = str(loc[-1]) if isinstance(loc, list) and loc else ""
    msg = str(item.get("msg", ""))
    return f"{where}: {msg}" if where else msg


class ApiClient:
    """The storefront's only way to talk to api-service."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        retries: int,
        backoff_seconds: float,
        order_timeout: httpx.Timeout = ORDER_TIMEOUT,
    ) -> None:
        self._http = http
        self._retries = retries
        self._backoff = backoff_seconds
        self._order_timeout = order_timeout

    @classmethod
    def from_settings(
        cls, settings: Settings, transport: httpx.AsyncBaseTransport | None = None
    ) -> ApiClient:
        """A client with the timeouts and retry policy the settings describe."""
        timeout = httpx.Timeout(
            settings.api_timeout_seconds, connect=settings.api_connect_timeout_seconds
        )
        http = httpx.AsyncClient(
            base_url=settings.api_base,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "microshop-client-service"},
        )
        return cls(
            http,
            retries=settings.api_retries,
            backoff_seconds=settings.api_retry_backoff_seconds,
            order_timeout=httpx.Timeout(
                settings.api_order_timeout_seconds, connect=settings.api_connect_timeout_seconds
            ),
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: object | None = None,
        params: Mapping[str, int | str] | None = None,
        idempotency_key: str | None = None,
        deadline: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """Send one call; raise domain errors.

        GETs, and POSTs sent with an Idempotency-Key (the API answers a repeat with the first
        outcome), are retried on transport errors and 502/503/504.
        """
        headers = {}
        request_id = current_request_id()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        if token:
            headers["Authorization"] = f"Bearer {token}"
        client_address = current_client_address()
        if client_address:
            # One address, set (not appended): the API trusts it from the storefront only.
            headers[FORWARDED_FOR_HEADER] = client_address
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        repeatable = method.upper() in IDEMPOTENT_METHODS or idempotency_key is not None
        attempts = 1 + (self._retries if repeatable else 0)
        attempt = 1
        while True:
            try:
                response = await self._http.request(
                    method,
                    path,
                    headers=headers,
                    json=json,
                    params=params,
                    timeout=httpx.USE_CLIENT_DEFAULT if deadline is None else deadline,
                )
            except httpx.TransportError as exc:
                if attempt >= attempts:
                    raise ApiUnavailableError(503, "the shop's API cannot be reached") from exc
                reason = type(exc).__name__
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRYABLE_STATUSES or attempt >= attempts:
                    raise error_from_response(response)
                reason = str(response.status_code)
            log.warning(
                "api call will be retried",
                extra={"method": method, "path": path, "attempt": attempt, "reason": reason},
            )
            await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            attempt += 1

    @staticmethod
    def _model(model: type[T], response: httpx.Response) -> T:
        try:
            return model.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            raise ApiBadGatewayError(502, "the API sent an answer the shop cannot read") from exc

    @staticmethod
    def _list(model: type[T], response: httpx.Response) -> list[T]:
        try:
            return TypeAdapter(list[model]).validate_python(response.json())  # type: ignore[valid-type]
        except (ValueError, ValidationError) as exc:
            raise ApiBadGatewayError(502, "the API sent an answer the shop cannot read") from exc

    async def health(self) -> dict[str, Any]:
        """The API's /health answer as JSON."""
        response = await self.request("GET", "/health")
        try:
            body = response.json()
        except ValueError as exc:
            raise ApiBadGatewayError(502, "the API's /health did not answer JSON") from exc
        if not isinstance(body, dict):
            raise ApiBadGatewayError(502, "the API's /health did not answer a JSON object")
        return body

    async def list_products(self, *, limit: int, offset: int) -> list[Product]:
        """One page of the catalogue."""
        response = await self.request("GET", "/products", params={"limit": limit, "offset": offset})
        return self._list(Product, response)

    async def get_product(self, product_id: str) -> Product:
        """One product by id."""
        response = await self.request("GET", f"/products/{_segment(product_id)}")
        return self._model(Product, response)

    async def register(self, email: str, password: str) -> AuthResult:
        """Create an account and sign it in."""
        response = await self.request(
            "POST", "/auth/register", json={"email": email, "password": password}
        )
        return self._model(AuthResult, response)

    async def login(self, email: str, password: str) -> AuthResult:
        """Exchange credentials for a token."""
        response = await self.request(
            "POST", "/auth/login", json={"email": email, "password": password}
        )
        return self._model(AuthResult, response)

    async def place_order(self, token: str, items: list[tuple[str, int]], key: str) -> Order:
        """Order the given (product id, quantity) pairs once per key; the API prices them.

        Retried with the same key when the API cannot be reached or answers 502/503/504, and
        waited for longer than the API's own deadline for an order.
        """
        body = {"items": [{"productId": pid, "qty": qty} for pid, qty in items]}
        response = await self.request(
            "POST",
            "/orders",
            token=token,
            json=body,
            idempotency_key=key,
            deadline=self._order_timeout,
        )
        return self._model(Order, response)

    async def my_orders(self, token: str) -> list[Order]:
        """The signed-in person's orders, newest first."""
        response = await self.request("GET", "/orders/me", token=token)
        return self._list(Order, response)


def _segment(value: str) -> str:
    """A path segment that cannot climb out of its route (ids are opaque to the storefront)."""
    return quote(value, safe="")
