"""Orders of the signed-in user."""

from __future__ import annotations

from typing import cast

from beanie import PydanticObjectId
from fastapi import APIRouter, Request, Response, status

from api_service.api.deps import CurrentUser, Page, StockWritesMode
from api_service.api.ordering import OPENAPI_PARAMETER, IdempotencyKey, OrderTiming
from api_service.api.responses import errors
from api_service.models import User
from api_service.schemas.orders import OrderIn, OrderOut, order_out
from api_service.services import orders

router = APIRouter(prefix="/orders", tags=["orders"])


def _id(user: User) -> PydanticObjectId:
    """A user loaded from the database always has an id."""
    return cast(PydanticObjectId, user.id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 401, 404, 409, 413, 422, 503),
    openapi_extra={"parameters": [OPENAPI_PARAMETER]},
)
async def place_order(
    body: OrderIn,
    user: CurrentUser,
    key: IdempotencyKey,
    mode: StockWritesMode,
    timing: OrderTiming,
) -> OrderOut:
    """Place an order once per Idempotency-Key; prices and total come from the server.

    The same key again returns the first outcome (201 with the same order, or the same 404 or
    409); 409 `order_in_progress` with Retry-After while the first attempt may still run; 422
    when the key was used with a different body.
    """
    return order_out(await orders.place_order(_id(user), body.items, key, mode, timing))


@router.get("/me", responses=errors(401, 422, 503))
async def my_orders(
    user: CurrentUser, page: Page, request: Request, response: Response
) -> list[OrderOut]:
    """The user's placed orders, newest first (JSON array; X-Total-Count and Link headers)."""
    items, total = await orders.orders_of(_id(user), page.limit, page.offset)
    page.headers(response, request, total)
    return [order_out(order) for order in items]
