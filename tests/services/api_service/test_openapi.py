"""The published OpenAPI says exactly what the API accepts: bounds, emails, text, keys, Allow."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from api_service.api.ordering import idempotency_key
from api_service.config import Settings
from api_service.errors import BadRequest
from api_service.etags import parse_if_match
from api_service.main import create_app
from api_service.schemas.auth import Credentials
from api_service.schemas.orders import OrderItemIn
from api_service.schemas.products import ProductIn
from tests.services.api_service.conftest import create_product

PRODUCT_ID = "0123456789abcdef01234567"
# Pydantic's names for constraints; JSON Schema has its own (minimum, maxLength, ...).
PYDANTIC_WORDS = {
    "ge",
    "gt",
    "le",
    "lt",
    "multiple_of",
    "min_length",
    "max_length",
    "strict",
    "allow_inf_nan",
    "max_digits",
    "decimal_places",
}


@pytest.fixture(scope="module")
def openapi(mongodb_uri: str, signing_key_file: Path) -> dict[str, Any]:
    """The OpenAPI document the app serves (built from the app; no request needed)."""
    settings = Settings(mongodb_uri=mongodb_uri, jwt_private_key_file=signing_key_file)
    return create_app(settings).openapi()


def body_property(openapi: dict[str, Any], model: str, name: str) -> dict[str, Any]:
    """One property of a request body's published schema."""
    prop: dict[str, Any] = openapi["components"]["schemas"][model]["properties"][name]
    return prop


def keywords(schema: object) -> Iterator[str]:
    """Every keyword used anywhere in a schema (the names under `properties` are not keywords)."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                for sub in value.values():
                    yield from keywords(sub)
            else:
                yield key
                yield from keywords(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from keywords(item)


def accepts(model: type[BaseModel], body: dict[str, Any]) -> bool:
    """Whether the API's request model takes this body."""
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


def test_order_quantity_is_published_with_json_schema_bounds(openapi: dict[str, Any]) -> None:
    assert body_property(openapi, "OrderItemIn", "qty") == {
        "type": "integer",
        "minimum": 1,
        "maximum": 1000,
        "title": "Qty",
    }


def test_price_and_stock_are_published_with_json_schema_bounds(openapi: dict[str, Any]) -> None:
    assert body_property(openapi, "ProductIn", "price") == {
        "type": "integer",
        "minimum": 0,
        "maximum": 100_000_000,
        "description": "integer cents",
        "title": "Price",
    }
    assert body_property(openapi, "ProductIn", "stock") == {
        "type": "integer",
        "minimum": 0,
        "maximum": 1_000_000,
        "title": "Stock",
    }


def test_no_constraint_is_published_under_pydantics_names(openapi: dict[str, Any]) -> None:
    used = set(keywords(openapi["components"]["schemas"])) | set(keywords(openapi["paths"]))
    assert used & PYDANTIC_WORDS == set()


@pytest.mark.parametrize(
    ("method", "path"),
    [("put", "/products/{product_id}"), ("patch", "/products/{product_id}/stock")],
)
def test_if_match_is_published_as_a_present_string_of_entity_tags(
    openapi: dict[str, Any], method: str, path: str
) -> None:
    """A header is never null; only what parse_if_match understands is published as valid."""
    parameters = openapi["paths"][path][method]["parameters"]
    schema = next(p["schema"] for p in parameters if p["name"] == "If-Match")
    assert schema["type"] == "string"
    pattern = re.compile(schema["pattern"])
    valid = ['"3"', "*", 'W/"3", "4"']
    assert [v for v in [*valid, "null", "3", '"3" x'] if pattern.match(v)] == valid
    for value in valid:
        parse_if_match(value)  # the published values parse (a malformed one raises BadRequest)


IDEMPOTENCY_KEYS = [
    "abcdefgh",
    "abcdefg",
    "x" * 128,
    "x" * 129,
    "0b7c4a52-6f0e-4b8e-9d1c-3f2a1e5d7c90",
    "order.form:42_v-1",
    '"abcdefgh"',
    '""',
    '"abcdefgh',
    'abcdefgh"',
    "has spaces in it",
    "a/b/c/d/e/f/g/h",
    "abcdefgh,abcdefgh",
    "\u00e9" * 8,
    "",
]


@pytest.mark.parametrize("value", IDEMPOTENCY_KEYS)
def test_published_idempotency_key_and_the_api_agree(openapi: dict[str, Any], value: str) -> None:
    """POST /orders requires the header; every value its schema allows is a key, no other is."""
    parameters = openapi["paths"]["/orders"]["post"]["parameters"]
    (parameter,) = [p for p in parameters if p["name"] == "Idempotency-Key"]
    assert (parameter["in"], parameter["required"], parameter["schema"]["type"]) == (
        "header",
        True,
        "string",
    )
    scope = {"type": "http", "headers": [(b"idempotency-key", value.encode("latin-1"))]}
    try:
        idempotency_key(Request(scope))
    except BadRequest:
        accepted = False
    else:
        accepted = True
    assert accepted == jsonschema_rs.is_valid(parameter["schema"], value)


@pytest.mark.parametrize(
    ("model", "name", "base"),
    [
        (OrderItemIn, "qty", {"productId": PRODUCT_ID}),
        (ProductIn, "price", {"name": "Mug", "stock": 1}),
        (ProductIn, "stock", {"name": "Mug", "price": 1}),
    ],
    ids=["qty", "price", "stock"],
)
@pytest.mark.parametrize(
    "value", [-1, 0, 1, 14.0, 14.5, 999, 1000, 1001, 10**6, 10**6 + 1, 10**8, 10**8 + 1, "14", True]
)
def test_published_number_bounds_and_the_api_agree(
    openapi: dict[str, Any], model: type[BaseModel], name: str, base: dict[str, Any], value: object
) -> None:
    published = jsonschema_rs.validator_for(body_property(openapi, model.__name__, name))
    assert accepts(model, {**base, name: value}) == published.is_valid(value)


EMAILS = [
    "a@x.com",
    "Shopper@Example.COM",
    "a.b+c@sub.example.org",
    "x@y.example",
    "!#$%&'*+-/=?^_`{|}~@x.io",
    "a@x.1a",
    "a@test.com",
    "a@x.testing",
    "zb@q.test",  # the special-use domains: refused by both
    "a@X.TEST",
    "a@x.local",
    "a@x.localhost",
    "a@x.invalid",
    "a@x.onion",
    "a@x.arpa",
    "a@b",
    "a@x.1",
    '"a b"@x.com',
    "a@[192.0.2.1]",
    "Ann <a@x.com>",
    "useratexample.com",
    "a@x.com.",
    ".a@x.com",
    "a..b@x.com",
    "a@-x.com",
    "a@x..com",
    "a@" + "b" * 63 + ".com",
    "a@" + "b" * 64 + ".com",
]


@pytest.mark.parametrize("email", EMAILS)
def test_published_email_schema_and_the_api_agree(openapi: dict[str, Any], email: str) -> None:
    published = jsonschema_rs.validator_for(
        body_property(openapi, "Credentials", "email"), validate_formats=True
    )
    body = {"email": email, "password": "long-enough-password"}
    assert accepts(Credentials, body) == published.is_valid(email)


def test_reserved_email_domains_are_published_as_refused(openapi: dict[str, Any]) -> None:
    published = body_property(openapi, "Credentials", "email")
    assert published["format"] == "email"
    assert ".test" in published["description"]
    assert not jsonschema_rs.is_valid(published, "zb@q.test")
    assert not accepts(Credentials, {"email": "zb@q.test", "password": "long-enough-password"})


# Every character up to U+3100 (all of Unicode's White_Space but none of the surrogates), U+FEFF.
CHARACTERS = [chr(c) for c in range(0x3100) if not 0xD800 <= c < 0xE000] + ["\ufeff"]


@pytest.mark.parametrize(
    ("model", "name", "base", "samples"),
    [
        (ProductIn, "name", {"price": 1, "stock": 1}, ["{c}", "{c}{c}{c}", "a{c}", "{c}a"]),
        (
            Credentials,
            "password",
            {"email": "a@x.com"},
            ["{c}" * 8, "{c}abcdefg", "abcdefg{c}", "{c}abcdefgh{c}", "abc{c}defg"],
        ),
    ],
    ids=["product-name", "password"],
)
def test_published_text_minimums_count_what_is_left_after_stripping(
    openapi: dict[str, Any],
    model: type[BaseModel],
    name: str,
    base: dict[str, Any],
    samples: list[str],
) -> None:
    published = jsonschema_rs.validator_for(body_property(openapi, model.__name__, name))
    disagreements = [
        (hex(ord(c)), sample)
        for c in CHARACTERS
        for sample in (template.replace("{c}", c) for template in samples)
        if accepts(model, {**base, name: sample}) != published.is_valid(sample)
    ]
    assert disagreements == []
    assert not published.is_valid(" " * 8)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/products", "GET, POST"),
        ("PATCH", "/products", "GET, POST"),
        ("OPTIONS", "/products/{id}", "DELETE, GET, PUT"),
        ("PATCH", "/products/{id}", "DELETE, GET, PUT"),
        ("GET", "/orders", "POST"),
        ("POST", "/orders/me", "GET"),
        ("DELETE", "/auth/login", "POST"),
    ],
)
async def test_405_allow_lists_every_method_of_the_path(
    client: httpx.AsyncClient, admin_token: str, method: str, path: str, allow: str
) -> None:
    product = await create_product(client, admin_token)
    response = await client.request(method, path.replace("{id}", product["id"]))
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"]["code"] == "method_not_allowed"
