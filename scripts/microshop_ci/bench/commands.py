"""Database commands per request, counted in-process with PyMongo command monitoring.

Req/s moves with whatever else the machine runs; the number of commands a request sends to the
database does not. The app is built in this process (create_app with the same settings as the
benchmarked server, inside its lifespan) and driven over ASGI; a CommandListener registered
globally before the app opens its client counts every command each request starts.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pymongo import monitoring


class CommandCounter(monitoring.CommandListener):
    """Counts started commands by (name, target collection)."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """One more command."""
        target = event.command.get(event.command_name)
        self.seen[
            f"{event.command_name} {target}" if isinstance(target, str) else event.command_name
        ] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Counted at start."""

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Counted at start."""

    def take(self) -> Counter[str]:
        """The counts so far, and start again."""
        seen, self.seen = self.seen, Counter()
        return seen


@dataclass(frozen=True)
class CommandCount:
    """Commands per request for one endpoint, and which commands they were."""

    endpoint: str
    requests: int
    commands: int
    breakdown: dict[str, int]

    @property
    def per_request(self) -> float:
        """Average commands per request."""
        return self.commands / self.requests

    def describe(self) -> str:
        """e.g. `find products` x1, per request."""
        return ", ".join(
            f"{name} x{count / self.requests:g}" for name, count in sorted(self.breakdown.items())
        )


Call = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def _count(
    make_app: Callable[[], Any], calls: list[tuple[str, Call]], requests: int
) -> list[CommandCount]:
    counter = CommandCounter()
    monitoring.register(counter)  # before the app creates its client; this process only
    app = make_app()
    results = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for endpoint, call in calls:
                await call(client)  # warm: first-use work (indexes, caches) is not counted
                counter.take()
                for _ in range(requests):
                    response = await call(client)
                    if response.status_code >= 400:
                        raise SystemExit(
                            f"benchmark: {endpoint} answered {response.status_code}: "
                            f"{response.text[:200]}"
                        )
                seen = counter.take()
                results.append(CommandCount(endpoint, requests, sum(seen.values()), dict(seen)))
    return results


def count_commands(
    make_app: Callable[[], Any], calls: list[tuple[str, Call]], requests: int = 50
) -> list[CommandCount]:
    """Run each call `requests` times against a fresh in-process app; commands per endpoint."""
    return asyncio.run(_count(make_app, calls, requests))


def markdown_commands(counts: list[CommandCount]) -> str:
    """The command counts as a Markdown table."""
    lines = [
        "| endpoint | database commands per request | which |",
        "|---|---:|---|",
    ]
    lines += [f"| {c.endpoint} | {c.per_request:g} | {c.describe()} |" for c in counts]
    return "\n".join(lines)
