"""End to end in Debian's headless Chromium: sign in, order, see the order on "My orders"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import ConsoleMessage, async_playwright, expect

from microshop_ci.browser import CHROMIUM_ARGS, chromium
from tests.services.client_service.conftest import RunningApi, RunningStorefront, unique_email

PASSWORD = "browser test password"


@pytest.mark.browser
async def test_visitor_signs_in_orders_and_sees_the_order(
    storefront_process: RunningStorefront, api_service: RunningApi, tmp_path: Path
) -> None:
    binary = chromium()
    if not binary.exists():
        pytest.fail(f"{binary} is missing: scripts/setup installs or finds it")
    product_id = api_service.create_product("Brass desk lamp", 4200, 5, "Warm light, heavy base.")
    email = unique_email()
    with api_service.client() as api:
        assert api.post("/auth/register", json={"email": email, "password": PASSWORD}).is_success

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(binary), args=list(CHROMIUM_ARGS)
        )
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 760})
            problems: list[str] = []

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    problems.append(message.text)

            page.on("console", on_console)
            base = storefront_process.base_url

            await page.goto(f"{base}/products/{product_id}")
            await page.locator("article").get_by_role("link", name="Sign in").click()
            await page.get_by_label("Email").fill(email)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()

            # Back on the product page it came from, now with the order form.
            await expect(page).to_have_url(f"{base}/products/{product_id}")
            await expect(page.get_by_role("status")).to_contain_text(f"Signed in as {email}")
            await page.get_by_label("Quantity").fill("2")
            await page.get_by_role("button", name="Place order").click()

            await expect(page).to_have_url(f"{base}/orders")
            await expect(page.get_by_role("heading", name="My orders")).to_be_visible()
            await expect(page.get_by_role("status")).to_contain_text(
                "Order placed: 2 x Brass desk lamp, total $84.00."
            )
            row = page.get_by_role("row").filter(has_text="Brass desk lamp")
            await expect(row).to_contain_text(re.compile(r"2\s*\$42\.00\s*\$84\.00"))
            await page.screenshot(path=str(tmp_path / "my-orders.png"), full_page=True)
            assert problems == []  # e.g. a CSP violation would be reported here
        finally:
            await browser.close()
    assert api_service.product(product_id)["stock"] == 3
