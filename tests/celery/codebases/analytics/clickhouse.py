"""A stand-in for the analytics database client (PostHog's ``posthog.clickhouse.client.sync_execute``)."""

from __future__ import annotations

from typing import Any


class ClickHouseUnavailable(ConnectionError):
    """The database did not answer."""


#: Every query run, in order.
QUERIES: list[str] = []
#: Query -> how many more times it fails (an outage the tests arrange).
OUTAGES: dict[str, int] = {}


def sync_execute(query: str, params: dict[str, Any] | None = None) -> int:
    """Run a query; the rows it touched (here, the number of parameters)."""
    QUERIES.append(query)
    if OUTAGES.get(query, 0) > 0:
        OUTAGES[query] -= 1
        raise ClickHouseUnavailable(f"{query}: connection refused")
    return len(params or {})
