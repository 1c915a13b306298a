"""How orders take stock: detected once at start-up from what the server says it is.

- "transaction": MongoDB that has transactions (a replica-set member: `hello` carries `setName`;
  or mongos: `msg == "isdbgrid"`). An order's stock takes and its insert commit together in one
  transaction (services/txorders.py).
- "conditional": MongoDB without transactions (a standalone server). Its conditional update
  ({"stock": {"$gte": qty}} + $inc) is atomic, so one command per item is enough; the order is
  stored first and settled through the ledger (services/orders.py).
- "lease": FerretDB, which reports itself in buildInfo (`ferretdbVersion`, `ferretdbFeatures`;
  its `hello` carries no such field). Its conditional update is not atomic (services/stocklock.py),
  so every stock write runs under the product's lease, on the same ledger path.

FerretDB never gets "transaction", whatever its `hello` says: v1.24.2 refuses `startTransaction`
on every write (FailedToParse, "unknown field"), has no `commitTransaction` or `abortTransaction`
(CommandNotFound), and accepts `startTransaction` on `find` and `txnNumber` on writes by ignoring
them, so a transaction's reads would silently run outside any transaction
(tests/services/api_service/test_stockmode.py checks this on the real FerretDB).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

from pymongo import AsyncMongoClient

from api_service.config import ConfigurationError

StockWrites = Literal["lease", "conditional", "transaction"]
StockWritesSetting = Literal["auto", "lease", "conditional", "transaction"]

logger = logging.getLogger(__name__)


def is_ferretdb(build_info: Mapping[str, Any]) -> bool:
    """FerretDB names itself in buildInfo (any version)."""
    return "ferretdbVersion" in build_info or "ferretdbFeatures" in build_info


def has_transactions(hello: Mapping[str, Any]) -> bool:
    """A replica-set member (`setName`) or a mongos (`msg: isdbgrid`): it has transactions."""
    return "setName" in hello or hello.get("msg") == "isdbgrid"


def stock_writes_for(build_info: Mapping[str, Any], hello: Mapping[str, Any]) -> StockWrites:
    """The lease for FerretDB; a transaction where MongoDB has them; the conditional update else."""
    if is_ferretdb(build_info):
        return "lease"
    return "transaction" if has_transactions(hello) else "conditional"


def why(mode: StockWrites, build_info: Mapping[str, Any], hello: Mapping[str, Any]) -> str:
    """The server as the log line names it, with the reason for the mode."""
    if mode == "lease":
        version = build_info.get("ferretdbVersion", "unknown")
        return f"FerretDB {version}, no atomic conditional update"
    version = f"MongoDB {build_info.get('version', 'unknown')}"
    if "setName" in hello:
        return f"{version}, replica set {hello['setName']}: transactions"
    if hello.get("msg") == "isdbgrid":
        return f"{version}, mongos: transactions"
    return f"{version}, standalone: no transactions"


async def detect_stock_writes(
    client: AsyncMongoClient[dict[str, Any]], setting: StockWritesSetting
) -> StockWrites:
    """Ask the server once (buildInfo, hello) unless the setting forces a mode; log which and why.

    A forced "transaction" is still checked: a server without transactions stops start-up with
    a message naming STOCK_WRITES (FerretDB would otherwise apply a transaction's reads outside it).
    """
    if setting == "lease" or setting == "conditional":  # noqa: PLR1714 - narrows the type
        mode: StockWrites = setting
        server = "not asked (STOCK_WRITES is set)"
    else:
        info = await client.admin.command("buildInfo")
        hello = await client.admin.command("hello")
        mode = stock_writes_for(info, hello)
        server = why(mode, info, hello)
        if setting == "transaction" and mode != "transaction":
            raise ConfigurationError(
                f"STOCK_WRITES=transaction, but the server has no transactions ({server})"
            )
    logger.info("stock writes: %s (server: %s)", mode, server, extra={"stock_writes": mode})
    return mode
