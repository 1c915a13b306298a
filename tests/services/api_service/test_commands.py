"""Database commands per request, counted with PyMongo command monitoring on the real database."""

from __future__ import annotations

import httpx
import pytest
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from api_service.services.auth import ensure_admin
from tests.services.api_service.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Starter,
    create_product,
    ordering,
    register,
)


class Recorder(CommandListener):
    """Every command the app's client starts: (command name, collection or target)."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str]] = []

    def started(self, event: CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        self.commands.append((event.command_name, target if isinstance(target, str) else ""))

    def succeeded(self, event: CommandSucceededEvent) -> None:
        """Not needed: started events are the count."""

    def failed(self, event: CommandFailedEvent) -> None:
        """Not needed: started events are the count."""


async def shop(start_app: Starter, mode: str) -> tuple[httpx.AsyncClient, Recorder, str, str]:
    """An app in the given stock-write mode with 3 products and a shopper; the recorder reset."""
    recorder = Recorder()
    _, client = await start_app(command_listeners=[recorder], stock_writes=mode)
    assert await ensure_admin(ADMIN_EMAIL, ADMIN_PASSWORD) == "created"
    login = await client.post(
        "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    ids = [
        (await create_product(client, login.json()["token"], name=f"P{n}", stock=5))["id"]
        for n in range(3)
    ]
    user = await register(client)
    recorder.commands.clear()
    return client, recorder, ids[0], user


@pytest.mark.parametrize("mode", ["lease", "conditional"])
async def test_a_default_list_page_is_one_find(start_app: Starter, mode: str) -> None:
    client, recorder, _, _ = await shop(start_app, mode)
    response = await client.get("/products")
    assert (response.status_code, response.headers["X-Total-Count"]) == (200, "3")
    assert recorder.commands == [("find", "products")]


async def test_a_page_that_exactly_fills_the_limit_is_one_find(start_app: Starter) -> None:
    client, recorder, _, _ = await shop(start_app, "conditional")
    response = await client.get("/products", params={"limit": 3})
    assert (response.headers["X-Total-Count"], len(response.json())) == ("3", 3)
    assert "Link" not in response.headers
    assert recorder.commands == [("find", "products")]


async def test_a_full_page_with_more_after_it_also_counts(start_app: Starter) -> None:
    client, recorder, _, _ = await shop(start_app, "conditional")
    first = await client.get("/products", params={"limit": 2})
    assert (first.headers["X-Total-Count"], len(first.json())) == ("3", 2)
    assert recorder.commands == [("find", "products"), ("aggregate", "products")]
    recorder.commands.clear()
    last = await client.get("/products", params={"limit": 2, "offset": 2})
    assert (last.headers["X-Total-Count"], len(last.json())) == ("3", 1)
    assert recorder.commands == [("find", "products")]


async def test_a_single_product_read_is_one_find(start_app: Starter) -> None:
    client, recorder, product_id, _ = await shop(start_app, "conditional")
    assert (await client.get(f"/products/{product_id}")).status_code == 200
    assert recorder.commands == [("find", "products")]


async def test_an_order_without_the_lease_is_four_commands_after_the_user_lookup(
    start_app: Starter,
) -> None:
    """Store it (reserving), take the stock, confirm it, drop the take's operation id."""
    client, recorder, product_id, user = await shop(start_app, "conditional")
    body = {"items": [{"productId": product_id, "qty": 1}]}
    response = await client.post("/orders", json=body, headers=ordering(user))
    assert response.status_code == 201
    assert recorder.commands == [
        ("find", "users"),
        ("insert", "orders"),
        ("findAndModify", "products"),
        ("findAndModify", "orders"),
        ("findAndModify", "products"),
    ]


async def test_an_order_under_the_lease_holds_it_for_each_product_write(start_app: Starter) -> None:
    client, recorder, product_id, user = await shop(start_app, "lease")
    body = {"items": [{"productId": product_id, "qty": 1}]}
    response = await client.post("/orders", json=body, headers=ordering(user))
    assert response.status_code == 201
    # FerretDB pushes down only a lone {_id: x} filter: conditions are read by _id, then checked.
    leased = [("insert", "stock_locks"), ("find", "products"), ("findAndModify", "products")]
    release = [("findAndModify", "stock_locks")]
    assert recorder.commands == [
        ("find", "users"),
        ("insert", "orders"),
        *leased,
        *release,
        ("find", "orders"),
        ("findAndModify", "orders"),
        ("insert", "stock_locks"),  # the pull of the take's id needs no condition: no read
        ("findAndModify", "products"),
        *release,
    ]


async def test_the_same_key_again_is_one_lookup_and_no_stock_write(start_app: Starter) -> None:
    client, recorder, product_id, user = await shop(start_app, "conditional")
    body = {"items": [{"productId": product_id, "qty": 1}]}
    headers = ordering(user)
    assert (await client.post("/orders", json=body, headers=headers)).status_code == 201
    recorder.commands.clear()
    assert (await client.post("/orders", json=body, headers=headers)).status_code == 201
    assert recorder.commands == [("find", "users"), ("insert", "orders"), ("find", "orders")]
