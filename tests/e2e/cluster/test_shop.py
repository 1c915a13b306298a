"""The shop end to end through the ingress: register, sign in, order, see the order."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from kubernetes import client

from tests.e2e.kube import PROPAGATION_TIMEOUT, ProbePod, Settings
from tests.e2e.waiting import wait_for

pytestmark = pytest.mark.e2e

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PRODUCT_RE = re.compile(r'href="/products/([0-9a-fA-F]{24})">([^<]+)</a>')


@pytest.fixture
def shop(kube: client.ApiClient, settings: Settings) -> Iterator[httpx.Client]:
    """A browser-like session against the ingress (Host header for the gateway's virtual host)."""
    del kube  # only to skip without a cluster
    with httpx.Client(
        base_url=settings.ingress_url,
        headers={"Host": settings.ingress_host},
        follow_redirects=True,
        timeout=10,
    ) as session:
        yield session


def _csrf(page: httpx.Response) -> str:
    match = CSRF_RE.search(page.text)
    assert match, f"no CSRF field on {page.url}"
    return html.unescape(match.group(1))


def _ensure_product(probes: dict[str, ProbePod], settings: Settings) -> None:
    """Seed one product through the API as the admin, when the deployment provides one."""
    if not (settings.admin_email and settings.admin_password_file):
        return
    pod = probes["client"]
    creds = {
        "email": settings.admin_email,
        "password": settings.admin_password_file.read_text().strip(),
    }
    login = pod.http(settings.api_url("/auth/login"), "POST", body=creds)
    assert login.status == 200, login
    token = httpx.Response(200, content=login.body).json()["token"]
    product = {
        "name": f"E2E mug {uuid.uuid4().hex[:6]}",
        "description": "e2e",
        "price": 1299,
        "stock": 5,
    }
    created = pod.http(
        settings.api_url("/products"),
        "POST",
        headers={"Authorization": f"Bearer {token}"},
        body=product,
    )
    assert created.status == 201, created


def test_register_sign_in_order_and_see_the_order(
    shop: httpx.Client, probes: dict[str, ProbePod], settings: Settings
) -> None:
    _ensure_product(probes, settings)
    home = wait_for(
        lambda: (r if (r := shop.get("/")).status_code == 200 else None),
        what="the storefront answers through the ingress",
        timeout=PROPAGATION_TIMEOUT,
        retry_on=(httpx.TransportError,),
    )
    products = PRODUCT_RE.findall(home.text)
    assert products, "the storefront lists no product: set E2E_ADMIN_EMAIL/_PASSWORD_FILE to seed"
    product_id, product_name = products[0]

    email = f"e2e-{uuid.uuid4().hex[:12]}@example.com"
    password = f"e2e-{uuid.uuid4().hex}"
    form = shop.get("/register")
    registered = shop.post(
        "/register", data={"email": email, "password": password, "csrf_token": _csrf(form)}
    )
    assert registered.status_code == 200
    assert email in registered.text

    shop.cookies.clear()  # sign in again from scratch
    signin = shop.get("/signin")
    signed_in = shop.post(
        "/signin", data={"email": email, "password": password, "csrf_token": _csrf(signin)}
    )
    assert signed_in.status_code == 200
    assert email in signed_in.text

    page = shop.get(f"/products/{product_id}")
    ordered = shop.post(
        "/orders", data={"product_id": product_id, "qty": "1", "csrf_token": _csrf(page)}
    )
    assert ordered.status_code == 200
    assert str(ordered.url).endswith("/orders")
    assert "Order placed: 1 x" in html.unescape(ordered.text)
    assert html.unescape(product_name) in html.unescape(shop.get("/orders").text)
