"""How stock writes are serialised: detected once at start-up from what the server says it is.

MongoDB applies a conditional update ({"stock": {"$gte": qty}} + $inc) atomically, so one
command per item is enough ("conditional"). FerretDB 1.24 does not (see services/stocklock.py),
so there every stock write runs under the product's lease ("lease"). FerretDB reports itself in
buildInfo (`ferretdbVersion`, `ferretdbFeatures`); its `hello` answer carries no such field.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

from pymongo import AsyncMongoClient

StockWrites = Literal["lease", "conditional"]
StockWritesSetting = Literal["auto", "lease", "conditional"]

logger = logging.getLogger(__name__)


def stock_writes_for(build_info: Mapping[str, Any]) -> StockWrites:
    """The lease for FerretDB (any version that names itself), the plain conditional update else."""
    if "ferretdbVersion" in build_info or "ferretdbFeatures" in build_info:
        return "lease"
    return "conditional"


async def detect_stock_writes(
    client: AsyncMongoClient[dict[str, Any]], setting: StockWritesSetting
) -> StockWrites:
    """Ask the server once (buildInfo) unless the setting forces a mode; log which mode runs."""
    if setting != "auto":
        mode: StockWrites = setting
        server = "not asked (STOCK_WRITES is set)"
    else:
        info = await client.admin.command("buildInfo")
        mode = stock_writes_for(info)
        name = "FerretDB" if mode == "lease" else "MongoDB"
        version = info.get("ferretdbVersion") or info.get("version", "unknown")
        server = f"{name} {version}"
    logger.info("stock writes: %s (server: %s)", mode, server, extra={"stock_writes": mode})
    return mode
