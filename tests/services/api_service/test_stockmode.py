"""Stock-write mode detection: FerretDB the lease, MongoDB a transaction where it has them."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from bson import Int64
from bson.binary import UUID_SUBTYPE, Binary
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from api_service.config import ConfigurationError
from api_service.services.stockmode import detect_stock_writes, stock_writes_for
from api_service.services.stockmode import why as describe
from tests.services.api_service.conftest import Starter

# What FerretDB v1.24.2 (SQLite) answered to buildInfo here (trimmed to the fields that matter).
FERRETDB_1_24_2 = {
    "version": "7.0.42",
    "versionArray": [7, 0, 42, 0],
    "ferretdbVersion": "v1.24.2",
    "ferretdbFeatures": {"aggregationStages": ["$match", "$sort", "$count", "$group"]},
    "ok": 1.0,
}
# What FerretDB v1.24.2 answered to hello here (trimmed): no setName, no msg.
FERRETDB_HELLO = {"isWritablePrimary": True, "maxWireVersion": 21, "ok": 1.0}
# MongoDB 7's buildInfo: a version, no ferretdb fields.
MONGODB_7 = {"version": "7.0.14", "versionArray": [7, 0, 14, 0], "gitVersion": "ce5", "ok": 1.0}
STANDALONE_HELLO = {"isWritablePrimary": True, "maxWireVersion": 21, "ok": 1.0}
REPLICA_SET_HELLO = {
    "hosts": ["127.0.0.1:27017"],
    "setName": "rs0",
    "setVersion": 1,
    "isWritablePrimary": True,
    "secondary": False,
    "primary": "127.0.0.1:27017",
    "maxWireVersion": 21,
    "ok": 1.0,
}
NOT_ATOMIC = "no atomic conditional update"
MONGOS_HELLO = {"isWritablePrimary": True, "msg": "isdbgrid", "maxWireVersion": 21, "ok": 1.0}


@pytest.mark.parametrize(
    ("build_info", "hello", "mode", "why"),
    [
        (FERRETDB_1_24_2, FERRETDB_HELLO, "lease", f"FerretDB v1.24.2, {NOT_ATOMIC}"),
        # FerretDB never gets a transaction, even if a proxy or a later version said setName.
        (FERRETDB_1_24_2, REPLICA_SET_HELLO, "lease", f"FerretDB v1.24.2, {NOT_ATOMIC}"),
        (
            {"version": "7.0.0", "ferretdbFeatures": {}},
            {},
            "lease",
            f"FerretDB unknown, {NOT_ATOMIC}",
        ),
        (MONGODB_7, STANDALONE_HELLO, "conditional", "MongoDB 7.0.14, standalone: no transactions"),
        (
            MONGODB_7,
            REPLICA_SET_HELLO,
            "transaction",
            "MongoDB 7.0.14, replica set rs0: transactions",
        ),
        (MONGODB_7, MONGOS_HELLO, "transaction", "MongoDB 7.0.14, mongos: transactions"),
        ({}, {}, "conditional", "MongoDB unknown, standalone: no transactions"),
    ],
    ids=[
        "ferretdb",
        "ferretdb-claiming-a-set",
        "ferretdb-features-only",
        "standalone",
        "replica-set",
        "mongos",
        "nothing-said",
    ],
)
def test_ferretdb_gets_the_lease_a_replica_set_the_transaction_and_standalone_the_update(
    build_info: dict[str, Any], hello: dict[str, Any], mode: str, why: str
) -> None:
    assert (stock_writes_for(build_info, hello), describe(mode, build_info, hello)) == (mode, why)


async def test_the_real_test_database_is_detected_and_logged(
    mongodb_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        info = await client.admin.command("buildInfo")
        hello = await client.admin.command("hello")
        if "ferretdbVersion" in info:
            expected = "lease"
        else:
            expected = "transaction" if "setName" in hello else "conditional"
        with caplog.at_level(logging.INFO, logger="api_service.services.stockmode"):
            assert await detect_stock_writes(client, "auto") == expected
    finally:
        await client.close()
    (record,) = caplog.records
    assert record.getMessage() == (
        f"stock writes: {expected} (server: {describe(expected, info, hello)})"
    )


async def test_a_forced_mode_does_not_ask_the_server(caplog: pytest.LogCaptureFixture) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        "mongodb://127.0.0.1:1/", serverSelectionTimeoutMS=200
    )
    try:
        with caplog.at_level(logging.INFO, logger="api_service.services.stockmode"):
            assert await detect_stock_writes(client, "conditional") == "conditional"
    finally:
        await client.close()
    assert caplog.records[0].getMessage() == (
        "stock writes: conditional (server: not asked (STOCK_WRITES is set))"
    )


async def test_a_forced_transaction_on_a_server_without_transactions_stops_start_up(
    start_app: Starter, mongodb_uri: str
) -> None:
    if await _has_transactions(mongodb_uri):
        pytest.skip("the test database has transactions: nothing to refuse")
    with pytest.raises(
        ConfigurationError,
        match=r"^STOCK_WRITES=transaction, but the server has no"
        r" transactions \((FerretDB|MongoDB) ",
    ):
        await start_app(stock_writes="transaction")


async def _has_transactions(uri: str) -> bool:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        info = await client.admin.command("buildInfo")
        return stock_writes_for(info, await client.admin.command("hello")) == "transaction"
    finally:
        await client.close()


async def test_ferretdb_refuses_a_transaction_on_writes_and_ignores_it_on_reads(
    mongodb_uri: str,
) -> None:
    """Why FerretDB never gets the transaction mode (what v1.24.2 does with the fields)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        if "ferretdbVersion" not in await client.admin.command("buildInfo"):
            pytest.skip("the test database is not FerretDB (MICROSHOP_TEST_MONGODB_URI is set)")
        database = client[f"t_{uuid.uuid4().hex[:16]}"]
        await database.t.insert_one({"_id": 1, "n": 0})
        answers = {}
        for name, command in [
            ("findAndModify", {"findAndModify": "t", "query": {"_id": 1},
                               "update": {"$inc": {"n": 1}}}),
            ("insert", {"insert": "t", "documents": [{"_id": 2}]}),
            ("find", {"find": "t", "filter": {}}),
        ]:  # fmt: skip
            answers[name] = await _answer(database, {**command, **_transaction(start=True)})
        for name in ("commitTransaction", "abortTransaction"):
            answers[name] = await _answer(client.admin, {name: 1, **_transaction(start=False)})
        stored = await database.t.find().to_list()
        await client.drop_database(database.name)
    finally:
        await client.close()
    assert answers == {
        "findAndModify": (9, 'findAndModify: unknown field "startTransaction"'),
        "insert": (9, 'insert: unknown field "startTransaction"'),
        "find": (None, "ok"),  # accepted: the read would run outside any transaction
        "commitTransaction": (59, "no such command: 'commitTransaction'"),
        "abortTransaction": (59, "no such command: 'abortTransaction'"),
    }
    assert stored == [{"_id": 1, "n": 0}]


def _transaction(*, start: bool) -> dict[str, Any]:
    """The fields a driver adds to a command of a transaction, in its order (a new session)."""
    fields: dict[str, Any] = {
        "lsid": {"id": Binary(uuid.uuid4().bytes, UUID_SUBTYPE)},
        "txnNumber": Int64(1),
    }
    return {**fields, **({"startTransaction": True} if start else {}), "autocommit": False}


async def _answer(
    database: AsyncDatabase[dict[str, Any]], command: dict[str, Any]
) -> tuple[int | None, str]:
    try:
        await database.command(command)
    except OperationFailure as exc:
        return exc.code, str(exc.details and exc.details.get("errmsg"))
    return None, "ok"
