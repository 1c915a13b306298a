"""Place an order from a product page, and list the visitor's orders."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from client_service.errors import (
    ApiBadGatewayError,
    ApiRejectedError,
    ApiUnavailableError,
    ConflictError,
    UnauthorizedError,
)
from client_service.schemas import Product
from client_service.web import Api, Token, end_session, flash, format_cents, render

router = APIRouter(tags=["orders"])
MAX_QTY = 99
ORDER_KEY_PATTERN = r"^[A-Za-z0-9-]{8,64}$"
UNKNOWN = (
    "We could not confirm your order yet. Check My orders in a moment; placing it again from "
    "this page will not order twice."
)


def _parse_qty(raw: str) -> int | None:
    """A quantity from the form, or None when it is not a whole number in range."""
    try:
        qty = int(raw.strip())
    except ValueError:
        return None
    return qty if 1 <= qty <= MAX_QTY else None


def _signed_out(request: Request, next_path: str) -> RedirectResponse:
    """The API no longer accepts the token: forget it and ask the visitor to sign in again."""
    end_session(request)
    flash(request, "Your session has ended. Please sign in again.")
    return RedirectResponse("/signin?" + urlencode({"next": next_path}), status_code=303)


def new_order_key() -> str:
    """The Idempotency-Key of one order form: sent again, the API answers the first outcome."""
    return str(uuid.uuid4())


@router.post("/orders", response_model=None)
async def place_order(
    request: Request,
    api: Api,
    token: Token,
    product_id: Annotated[str, Form(min_length=1, max_length=64)],
    qty: Annotated[str, Form(max_length=16)],
    order_key: Annotated[str, Form(pattern=ORDER_KEY_PATTERN)],
) -> HTMLResponse | RedirectResponse:
    """Order a quantity of one product; the API prices it and checks the stock.

    The form's order key goes to the API as the Idempotency-Key: a second submit of the same
    form (a double click, a retry after a timeout) never orders twice. When the outcome is not
    known yet, the form comes back with the same key; after a refusal, with a new one.
    """
    product = await api.get_product(product_id)
    quantity = _parse_qty(qty)
    if quantity is None:
        error = f"Quantity must be a whole number from 1 to {MAX_QTY}."
        context = {"product": product, "qty": qty, "error": error, "order_key": order_key}
        return render(request, "product.html", context, status_code=400)
    try:
        order = await api.place_order(token, [(product.id, quantity)], order_key)
    except UnauthorizedError:
        return _signed_out(request, f"/products/{product.id}")
    except (ApiUnavailableError, ApiBadGatewayError, ConflictError) as exc:
        if isinstance(exc, ConflictError) and exc.code != "order_in_progress":
            return _refused(request, product, quantity, exc)
        context = {"product": product, "qty": quantity, "error": UNKNOWN, "order_key": order_key}
        return render(request, "product.html", context, status_code=exc.status)
    except ApiRejectedError as exc:
        return _refused(request, product, quantity, exc)
    flash(request, f"Order placed: {quantity} x {product.name}, total {format_cents(order.total)}.")
    return RedirectResponse("/orders", status_code=303)


def _refused(
    request: Request, product: Product, quantity: int, exc: ApiRejectedError
) -> HTMLResponse:
    """The API said no: show why, with a new key (the visitor may change the order)."""
    context = {
        "product": product,
        "qty": quantity,
        "error": exc.message,
        "order_key": new_order_key(),
    }
    return render(request, "product.html", context, status_code=exc.status)


@router.get("/orders", response_model=None)
async def my_orders(request: Request, api: Api, token: Token) -> HTMLResponse | RedirectResponse:
    """The visitor's orders, newest first."""
    try:
        orders = await api.my_orders(token)
    except UnauthorizedError:
        return _signed_out(request, "/orders")
    return render(request, "orders.html", {"orders": orders})
