"""The smoke stage's scenario (microshop_ci.smoke.flow) against this folder's real processes.

microshop smoke runs the scenario against the signed images; here the same code runs against the
storefront and api-service started from source, so a change to the storefront that breaks the
smoke run fails in the fast test set already.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from microshop_ci.smoke import flow
from tests.services.client_service.conftest import RunningApi, RunningStorefront


@pytest.mark.browser
def test_the_smoke_order_is_placed_through_the_real_storefront(
    storefront_process: RunningStorefront,
    api_service: RunningApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(flow, "API_URL", api_service.base_url)
    monkeypatch.setattr(flow, "STOREFRONT_URL", storefront_process.base_url)
    product_id = api_service.create_product(
        str(flow.PRODUCT["name"]), int(flow.PRODUCT["price"]), flow.STOCK
    )
    order = flow.order_in_browser(product_id, tmp_path / "orders.png")
    assert order.product_id == product_id
    assert order.stock_after == flow.STOCK - flow.QTY == 3
    assert order.summary.startswith("Order placed: 2 x Smoke test kettle, total $51.98.")
    assert order.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert order.email.startswith("smoke-")
    assert order.email.endswith("@example.com")
