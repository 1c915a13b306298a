"""The smoke scenario: seed a product through the API, then order in headless Chromium."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

from microshop_ci.browser import CHROMIUM_ARGS, chromium
from microshop_ci.smoke.stack import API_URL, STOREFRONT_URL, SmokeError

PRODUCT = {"name": "Smoke test kettle", "description": "Placed by microshop smoke.", "price": 2599}
STOCK, QTY = 5, 2


@dataclass(frozen=True)
class Order:
    """What the storefront showed after ordering, and the stock the API reports after."""

    product_id: str
    email: str
    summary: str
    stock_after: int
    screenshot: Path


def seed_product(admin_email: str, admin_password: str) -> str:
    """Sign the admin in through the API and create the product to order."""
    with httpx.Client(base_url=API_URL, timeout=10) as api:
        login = api.post("/auth/login", json={"email": admin_email, "password": admin_password})
        if login.status_code != 200:
            raise SmokeError(f"admin login answered {login.status_code}: {login.text[:300]}")
        token = login.json()["token"]
        created = api.post(
            "/products",
            json={**PRODUCT, "stock": STOCK},
            headers={"Authorization": f"Bearer {token}"},
        )
        if created.status_code != 201:
            raise SmokeError(f"creating a product answered {created.status_code}: {created.text}")
        return str(created.json()["id"])


def stock_of(product_id: str) -> int:
    """The product's stock as the API reports it."""
    answer = httpx.get(f"{API_URL}/products/{product_id}", timeout=10)
    answer.raise_for_status()
    return int(answer.json()["stock"])


def order_in_browser(product_id: str, screenshot: Path) -> Order:
    """Register, order QTY units and read "My orders", in Debian's headless Chromium."""
    binary = chromium()
    if not binary.exists():
        raise SmokeError(f"{binary} is missing: scripts/setup installs or finds it")
    email = f"smoke-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(16)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(binary), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            page.goto(f"{STOREFRONT_URL}/register")
            page.get_by_label("Email").fill(email)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name=re.compile("register|create", re.I)).click()
            page.goto(f"{STOREFRONT_URL}/products/{product_id}")
            page.get_by_label("Quantity").fill(str(QTY))
            page.get_by_role("button", name="Place order").click()
            expect(page).to_have_url(f"{STOREFRONT_URL}/orders")
            status = page.get_by_role("status")
            expect(status).to_contain_text(f"Order placed: {QTY} x {PRODUCT['name']}")
            summary = status.inner_text().strip()
            page.screenshot(path=str(screenshot), full_page=True)
        except AssertionError as exc:
            raise SmokeError(f"the storefront did not show the order: {exc}") from exc
        finally:
            browser.close()
    return Order(product_id, email, summary, stock_of(product_id), screenshot)


def wait_for_api(timeout: float = 60) -> None:
    """Wait until the API answers /ready (the containers report healthy before that, usually)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{API_URL}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SmokeError(f"api-service at {API_URL} was not ready within {timeout:.0f} s")
