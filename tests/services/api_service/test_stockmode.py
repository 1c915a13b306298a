"""Stock-write mode detection: FerretDB (by what its buildInfo says) gets the lease."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from api_service.services.stockmode import detect_stock_writes, stock_writes_for

# What FerretDB v1.24.2 (SQLite) answered to buildInfo here (trimmed to the fields that matter).
FERRETDB_1_24_2 = {
    "version": "7.0.42",
    "versionArray": [7, 0, 42, 0],
    "ferretdbVersion": "v1.24.2",
    "ferretdbFeatures": {"aggregationStages": ["$match", "$sort", "$count", "$group"]},
    "ok": 1.0,
}
# MongoDB 7's buildInfo: a version, no ferretdb fields.
MONGODB_7 = {"version": "7.0.14", "versionArray": [7, 0, 14, 0], "gitVersion": "ce5", "ok": 1.0}


@pytest.mark.parametrize(
    ("build_info", "mode"),
    [
        (FERRETDB_1_24_2, "lease"),
        ({"version": "7.0.0", "ferretdbFeatures": {}}, "lease"),
        (MONGODB_7, "conditional"),
        ({}, "conditional"),
    ],
)
def test_ferretdb_gets_the_lease_and_mongodb_the_conditional_update(
    build_info: dict[str, Any], mode: str
) -> None:
    assert stock_writes_for(build_info) == mode


async def test_the_real_test_database_is_detected_and_logged(
    mongodb_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        info = await client.admin.command("buildInfo")
        expected = "lease" if "ferretdbVersion" in info else "conditional"
        with caplog.at_level(logging.INFO, logger="api_service.services.stockmode"):
            assert await detect_stock_writes(client, "auto") == expected
    finally:
        await client.close()
    (record,) = caplog.records
    assert record.getMessage().startswith(f"stock writes: {expected} (server: ")


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
