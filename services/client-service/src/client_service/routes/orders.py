"""Place an order from a product page, and list the visitor's orders."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from client_service.errors import ApiRejectedError, UnauthorizedError
from client_service.web import Api, Token, end_session, flash, format_cents, render

router = APIRouter(tags=["orders"])
MAX_QTY = 99


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


@router.post("/orders", response_model=None)
async def place_order(
    request: Request,
    api: Api,
    token: Token,
    product_id: Annotated[str, Form(min_length=1, max_length=64)],
    qty: Annotated[str, Form(max_length=16)],
) -> HTMLResponse | RedirectResponse:
    """Order a quantity of one product; the API prices it and checks the stock."""
    product = await api.get_product(product_id)
    quantity = _parse_qty(qty)
    if quantity is None:
        error = f"Quantity must be a whole number from 1 to {MAX_QTY}."
        context = {"product": product, "qty": qty, "error": error}
        return render(request, "product.html", context, status_code=400)
    try:
        order = await api.place_order(token, [(product.id, quantity)])
    except UnauthorizedError:
        return _signed_out(request, f"/products/{product.id}")
    except ApiRejectedError as exc:
        context = {"product": product, "qty": quantity, "error": exc.message}
        return render(request, "product.html", context, status_code=exc.status)
    flash(request, f"Order placed: {quantity} x {product.name}, total {format_cents(order.total)}.")
    return RedirectResponse("/orders", status_code=303)


@router.get("/orders", response_model=None)
async def my_orders(request: Request, api: Api, token: Token) -> HTMLResponse | RedirectResponse:
    """The visitor's orders, newest first."""
    try:
        orders = await api.my_orders(token)
    except UnauthorizedError:
        return _signed_out(request, "/orders")
    return render(request, "orders.html", {"orders": orders})
