"""Product pages: the catalogue (paged) and one product with its order form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from client_service.routes.orders import new_order_key
from client_service.web import Api, render

router = APIRouter(tags=["products"])
PAGE_SIZE = 12


@router.get("/", response_class=HTMLResponse)
async def product_list(
    request: Request, api: Api, page: Annotated[int, Query(ge=1, le=10_000)] = 1
) -> HTMLResponse:
    """One page of products; asks for one extra to know whether a next page exists."""
    found = await api.list_products(limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return render(
        request,
        "products.html",
        {"products": found[:PAGE_SIZE], "page": page, "has_next": len(found) > PAGE_SIZE},
    )


@router.get("/products/{product_id}", response_class=HTMLResponse)
async def product_detail(request: Request, api: Api, product_id: str) -> HTMLResponse:
    """One product and the quantity form that orders it."""
    product = await api.get_product(product_id)
    context = {"product": product, "qty": 1, "order_key": new_order_key()}
    return render(request, "product.html", context)
