"""The catalogue: anyone reads, admins write."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from api_service.api.deps import Admin, Page, ProductById, StockWritesMode
from api_service.api.responses import errors
from api_service.schemas.products import Deleted, ProductIn, ProductOut, product_out
from api_service.services import products

router = APIRouter(prefix="/products", tags=["products"])


@router.get("", responses=errors(422, 503))
async def list_products(page: Page, request: Request, response: Response) -> list[ProductOut]:
    """A page of products (JSON array); X-Total-Count and Link headers tell the rest."""
    result = await products.list_products(page.limit, page.offset)
    page.headers(response, request, result.total)
    return [product_out(product) for product in result.items]


@router.get("/{product_id}", responses=errors(404, 503))
async def get_product(product: ProductById) -> ProductOut:
    """One product."""
    return product_out(product)


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses=errors(400, 401, 403, 413, 422, 503)
)
async def create_product(_admin: Admin, body: ProductIn) -> ProductOut:
    """Add a product (admin)."""
    return product_out(await products.create_product(body))


@router.put("/{product_id}", responses=errors(400, 401, 403, 404, 413, 422, 503))
async def replace_product(
    _admin: Admin, product: ProductById, body: ProductIn, mode: StockWritesMode
) -> ProductOut:
    """Replace a product's fields (admin)."""
    return product_out(await products.replace_product(product, body, mode))


@router.delete("/{product_id}", responses=errors(401, 403, 404, 503))
async def delete_product(_admin: Admin, product: ProductById) -> Deleted:
    """Remove a product (admin)."""
    await products.delete_product(product)
    return Deleted(id=str(product.id))
