"""The catalogue: anyone reads, admins write; each product answers its version as an ETag."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from pydantic import TypeAdapter

from api_service.api.deps import Admin, IfMatchHeader, Page, ProductById, StockWritesMode
from api_service.api.responses import JSONBody, errors, json_body, with_etag
from api_service.etags import entity_tag
from api_service.models import Product
from api_service.schemas.products import (
    Deleted,
    ProductIn,
    ProductOut,
    ProductReplace,
    StockAdjustment,
    product_out,
    stored_product_out,
)
from api_service.services import products

router = APIRouter(prefix="/products", tags=["products"])
PRODUCT = TypeAdapter(ProductOut)
PRODUCTS = TypeAdapter(list[ProductOut])


def _tagged(product: Product, response: Response) -> ProductOut:
    """The product's body, with its version as the ETag header."""
    response.headers["ETag"] = entity_tag(product.version)
    return product_out(product)


@router.get("", response_model=list[ProductOut], responses=errors(422, 503))
async def list_products(page: Page, request: Request) -> JSONBody:
    """A page of products (JSON array); X-Total-Count and Link headers tell the rest."""
    result = await products.list_products(page.limit, page.offset)
    response = json_body(PRODUCTS, [stored_product_out(doc) for doc in result.items])
    page.headers(response, request, result.total)
    return response


@router.get("/{product_id}", response_model=ProductOut, responses=with_etag(200) | errors(404, 503))
async def get_product(product: ProductById) -> JSONBody:
    """One product; its ETag is the version a later write names in If-Match."""
    return json_body(PRODUCT, product_out(product), {"ETag": entity_tag(product.version)})


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=with_etag(201) | errors(400, 401, 403, 413, 422, 503),
)
async def create_product(_admin: Admin, body: ProductIn, response: Response) -> ProductOut:
    """Add a product (admin)."""
    return _tagged(await products.create_product(body), response)


@router.put(
    "/{product_id}",
    responses=with_etag(200) | errors(400, 401, 403, 404, 412, 413, 422, 428, 503),
)
async def replace_product(
    _admin: Admin,
    product: ProductById,
    body: ProductReplace,
    mode: StockWritesMode,
    if_match: IfMatchHeader,
    response: Response,
) -> ProductOut:
    """Replace a product's fields (admin); `stock` only with If-Match, left as is when absent."""
    return _tagged(await products.replace_product(product, body, mode, if_match), response)


@router.patch(
    "/{product_id}/stock",
    responses=with_etag(200) | errors(400, 401, 403, 404, 409, 412, 413, 422, 503),
)
async def adjust_stock(
    _admin: Admin,
    product: ProductById,
    body: StockAdjustment,
    mode: StockWritesMode,
    if_match: IfMatchHeader,
    response: Response,
) -> ProductOut:
    """Add or remove units atomically (admin); 409 if the stock would leave 0-1,000,000."""
    return _tagged(await products.adjust_stock(product, body.delta, mode, if_match), response)


@router.delete("/{product_id}", responses=errors(401, 403, 404, 503))
async def delete_product(_admin: Admin, product: ProductById) -> Deleted:
    """Remove a product (admin)."""
    await products.delete_product(product)
    return Deleted(id=str(product.id))
