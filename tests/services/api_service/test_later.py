"""Background retries of writes that failed while the database was away; 503 vs 500 mapping."""

from __future__ import annotations

import json
import logging

import pytest
from beanie import PydanticObjectId
from pymongo.errors import AutoReconnect, OperationFailure, ServerSelectionTimeoutError

from api_service.errors import (
    ProductBusy,
    ServiceUnavailable,
    database_unavailable,
    handle_database_error,
    worth_retrying,
)
from api_service.services import later, orders, stocklock


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry every 10 ms so the tests take no time."""
    monkeypatch.setattr(later, "PAUSE_SECONDS", 0.01)


async def test_a_write_is_retried_until_the_database_answers() -> None:
    calls: list[int] = []

    async def write() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise AutoReconnect("connection refused")

    await later.retry_later("test write", write)
    assert len(calls) == 3


async def test_a_real_error_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def write() -> None:
        calls.append(1)
        raise OperationFailure("bad update", code=2)

    with caplog.at_level(logging.ERROR, logger="api_service.services.later"):
        await later.retry_later("test write", write)
    assert len(calls) == 1
    assert [r.getMessage() for r in caplog.records] == ["gave up retrying test write"]


async def test_retries_stop_at_their_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(later, "RETRY_FOR_SECONDS", 0.05)
    calls: list[int] = []

    async def write() -> None:
        calls.append(1)
        raise AutoReconnect("still down")

    await later.retry_later("test write", write)
    assert 1 < len(calls) < 20


async def test_drain_waits_for_pending_retries() -> None:
    calls: list[int] = []

    async def write() -> None:
        calls.append(1)
        if len(calls) < 2:
            raise AutoReconnect("down")

    later.retry_later("test write", write)
    await later.drain(seconds=5)
    assert (len(calls), later._pending) == (2, set())


def test_what_counts_as_the_database_being_away() -> None:
    assert database_unavailable(AutoReconnect("x"))
    assert database_unavailable(ServerSelectionTimeoutError("x"))
    assert database_unavailable(OperationFailure("x", code=50))  # MaxTimeMSExpired
    assert not database_unavailable(OperationFailure("x", code=2))
    assert not database_unavailable(ValueError("x"))


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ServerSelectionTimeoutError("no servers"), 503, "service_unavailable"),
        (OperationFailure("bad", code=2), 500, "internal_error"),
    ],
)
async def test_database_errors_become_503_or_500_envelopes(
    error: Exception, status: int, code: str
) -> None:
    response = await handle_database_error(None, error)  # type: ignore[arg-type]
    assert response.status_code == status
    assert json.loads(bytes(response.body))["error"]["code"] == code
    assert (response.headers.get("Retry-After") == "1") is (status == 503)


async def test_put_back_hands_lines_to_the_background_when_the_database_is_away(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given: list[PydanticObjectId] = []
    down = {"on": True}

    async def give_back(item: orders.Taken, mode: str) -> None:
        if down["on"]:
            raise AutoReconnect("down")
        given.append(item.product_id)

    monkeypatch.setattr(orders, "_give_back", give_back)
    first, second = PydanticObjectId(), PydanticObjectId()
    await orders._put_back([orders.Taken(first, 1), orders.Taken(second, 2)], "conditional")
    assert given == []
    down["on"] = False
    await later.drain(seconds=5)
    assert sorted(given) == sorted([first, second])


async def test_put_back_of_a_busy_product_is_kept_for_the_background(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given: list[PydanticObjectId] = []
    busy = {"on": True}

    async def give_back(item: orders.Taken, mode: str) -> None:
        if busy["on"]:
            raise ProductBusy("the product is busy; try again")
        given.append(item.product_id)

    monkeypatch.setattr(orders, "_give_back", give_back)
    product = PydanticObjectId()
    await orders._put_back([orders.Taken(product, 3)], "lease")
    assert given == []
    busy["on"] = False
    await later.drain(seconds=5)
    assert given == [product]


async def test_a_busy_product_is_retried_not_given_up(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def write() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise ProductBusy("the product is busy; try again")

    with caplog.at_level(logging.ERROR, logger="api_service.services.later"):
        await later.retry_later("put back 3 of product p", write)
    assert (len(calls), caplog.records) == (3, [])


def test_what_is_worth_retrying() -> None:
    assert worth_retrying(AutoReconnect("x"))
    assert worth_retrying(ProductBusy("busy"))
    assert not worth_retrying(ServiceUnavailable("the database is not reachable"))
    assert not worth_retrying(OperationFailure("x", code=2))


async def test_put_back_raises_a_real_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async def give_back(item: orders.Taken, mode: str) -> None:
        raise OperationFailure("bad", code=2)

    monkeypatch.setattr(orders, "_give_back", give_back)
    with pytest.raises(OperationFailure):
        await orders._put_back([orders.Taken(PydanticObjectId(), 1)], "conditional")


async def test_a_lease_release_that_fails_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    monkeypatch.setattr(stocklock, "retry_later", lambda what, write: started.append(what))

    class Down:
        async def delete_one(self, *args: object) -> None:
            raise AutoReconnect("down")

    class Broken:
        async def delete_one(self, *args: object) -> None:
            raise OperationFailure("bad", code=2)

    monkeypatch.setattr(stocklock.StockLock, "get_pymongo_collection", lambda: Down())
    await stocklock._release("p1", "owner")
    assert started == ["release the lease on product p1"]
    monkeypatch.setattr(stocklock.StockLock, "get_pymongo_collection", lambda: Broken())
    with pytest.raises(OperationFailure):
        await stocklock._release("p1", "owner")
