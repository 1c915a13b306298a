"""One conditional update, done the way each database does it fast and as safely as it can.

MongoDB ("conditional" and "transaction" modes): one findAndModify whose filter holds the
condition; atomic, and found through the _id index.
FerretDB 1.24 ("lease" mode): only a filter that is exactly {_id: x} is pushed down to SQLite;
any other filter reads and parses every document of the collection (measured: confirming an
order slowed down in step with the number of orders stored). Its update is a read and then a
write by _id anyway, not atomic across connections. There every such write runs either under
the product's lease, which serialises its writers (stock), or at a time when no one else
writes the document (an order, before its deadline; see services/settle.py). So the condition
is checked on a read by _id and the write goes by _id: two indexed round trips, no scan, the
same guarantee.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from api_service.services.stockmode import StockWrites

Document = Mapping[str, Any]


@dataclass(frozen=True)
class Condition:
    """A condition on one document: as a query filter, and as a test of a document read."""

    filter: Mapping[str, Any]
    holds: Callable[[Document], bool]

    def __and__(self, other: Condition) -> Condition:
        return Condition(
            {**self.filter, **other.filter}, lambda doc: self.holds(doc) and other.holds(doc)
        )


ALWAYS = Condition({}, lambda _: True)


def field_is(name: str, value: Any) -> Condition:
    """The field equals value (an array field: contains it)."""

    def holds(doc: Document) -> bool:
        found = doc.get(name)
        return value in found if isinstance(found, list) else found == value

    return Condition({name: value}, holds)


def not_in(name: str, value: Any) -> Condition:
    """The array field does not contain value (or is missing)."""
    return Condition({name: {"$ne": value}}, lambda doc: value not in doc.get(name, []))


def at_least(name: str, value: int) -> Condition:
    """The number field is at least value."""
    return Condition({name: {"$gte": value}}, lambda doc: doc.get(name, value - 1) >= value)


def at_most(name: str, value: int) -> Condition:
    """The number field is at most value."""
    return Condition({name: {"$lte": value}}, lambda doc: doc.get(name, value + 1) <= value)


def one_of(name: str, values: frozenset[int], missing: int) -> Condition:
    """The number field is one of values; a document without the field counts as `missing`."""
    allowed: list[int | None] = [*sorted(values)]
    if missing in values:
        allowed.append(None)  # {"$in": [null]} also matches a missing field
    return Condition({name: {"$in": allowed}}, lambda doc: doc.get(name, missing) in values)


async def update_if(
    collection: AsyncCollection[dict[str, Any]],
    doc_id: Any,
    condition: Condition,
    update: Mapping[str, Any],
    mode: StockWrites,
    *,
    after: bool = False,
) -> dict[str, Any] | None:
    """Apply update to the document if the condition holds; the document before (or after) it.

    None when the document does not exist or the condition does not hold.
    """
    returned = ReturnDocument.AFTER if after else ReturnDocument.BEFORE
    if mode != "lease" or condition is ALWAYS:
        return await collection.find_one_and_update(
            {"_id": doc_id, **condition.filter}, update, return_document=returned
        )
    current = await collection.find_one({"_id": doc_id})
    if current is None or not condition.holds(current):
        return None
    return await collection.find_one_and_update({"_id": doc_id}, update, return_document=returned)
