"""Listing tasks by state and time through the store's sparse index: queries, never a table scan.

The index (:data:`squall.state.schema.INDEX_NAME`) holds a task while it is RETRY, DEAD or REVOKED (and SUCCESS
with ``Squall(index_success=True)``), partitioned by state, UTC day and a shard, sorted by the time it entered
that state. Its entry moves when the state changes, so a listing or a count sees each task in its current state
only: a RETRY whose next attempt started, or a redriven DEAD task, is no longer there. A listing
reads the day buckets its window covers, newest first; within a day it queries every (state, shard)
partition backwards from the window's end and merges them. ``name`` is a filter on the projected task name:
it reads the window's index entries (about 150 bytes each, so one read unit covers some 25) and keeps the
matches, which is cheaper than a second index that every failure would pay for.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from squall import clock
from squall.errors import NotIndexed
from squall.state.schema import (
    INDEX_NAME,
    INDEX_PARTITION_ATTRIBUTE,
    INDEX_SHARDS,
    INDEX_SORT_ATTRIBUTE,
    INDEXED_STATES,
    index_day,
    index_partition,
    index_sort_prefix,
    task_id_from_item,
)
from squall.states import State

if TYPE_CHECKING:
    from squall.protocols import App

#: Parallel index queries (one per state and shard of a day); boto3 clients are thread-safe.
QUERY_THREADS = 8
_DAY = 86_400
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": _DAY, "w": 7 * _DAY}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*")


@dataclass(frozen=True, slots=True)
class TaskEntry:
    """One task as the index lists it: its state and when it entered it."""

    id: str
    state: State
    at: float
    name: str | None
    queue: str | None
    attempt: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "state": str(self.state),
            "at": self.at,
            "name": self.name,
            "queue": self.queue,
            "attempt": self.attempt,
        }


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``15m``, ``1h``, ``2d`` or ``1w`` (also combined: ``1h30m``); ValueError otherwise."""
    parts = _DURATION.findall(text)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != re.sub(r"\s+", "", text):
        raise ValueError(f"{text!r} is not a duration: use a number and a unit s, m, h, d or w (e.g. 30m, 1h, 7d)")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def indexed_states(app: App) -> tuple[State, ...]:
    """The states the app's index holds."""
    return (*INDEXED_STATES, State.SUCCESS) if app.index_success else INDEXED_STATES


def check_states(app: App, states: Iterable[State]) -> tuple[State, ...]:
    """``states`` if the index holds them all; NotIndexed says why not and what to do otherwise."""
    wanted = tuple(states)
    held = indexed_states(app)
    for state in wanted:
        if state in held:
            continue
        if state is State.SUCCESS:
            raise NotIndexed(
                f"SUCCESS tasks are not indexed for app {app.name!r} (indexing them costs one more write unit per "
                f"task): create the app with Squall({app.name!r}, index_success=True) and redeploy, or look a task "
                "up by id with `squall status ID`"
            )
        raise NotIndexed(
            f"{state} tasks are not listed: the index holds only {', '.join(held)}, so a task's happy path costs "
            "no index writes. Use `squall stats` for queue depths, or `squall status ID` for one task"
        )
    return wanted or held


def _entry(item: dict[str, Any]) -> TaskEntry:
    partition = item[INDEX_PARTITION_ATTRIBUTE]["S"]
    sort = item[INDEX_SORT_ATTRIBUTE]["S"]
    return TaskEntry(
        id=task_id_from_item(item),
        state=State(partition.split("#", 1)[0]),
        at=int(sort.split("#", 1)[0]) / 1000,
        name=item["name"]["S"] if "name" in item else None,
        queue=item["queue"]["S"] if "queue" in item else None,
        attempt=int(item["attempt"]["N"]) if "attempt" in item else 0,
    )


def _query(app: App, partition: str, *, low: float, high: float, name: str | None, limit: int | None) -> list[Any]:
    """Up to ``limit`` index entries of one partition within [low, high], newest first."""
    params: dict[str, Any] = {
        "TableName": app.settings.table,
        "IndexName": INDEX_NAME,
        "KeyConditionExpression": "#p = :p AND #s BETWEEN :low AND :high",
        "ExpressionAttributeNames": {"#p": INDEX_PARTITION_ATTRIBUTE, "#s": INDEX_SORT_ATTRIBUTE},
        "ExpressionAttributeValues": {
            ":p": {"S": partition},
            ":low": {"S": index_sort_prefix(low)},
            ":high": {"S": index_sort_prefix(high) + "~"},  # '~' sorts after '#<task id>'
        },
        "ScanIndexForward": False,
    }
    if name is not None:
        params["FilterExpression"] = "#n = :n"
        params["ExpressionAttributeNames"]["#n"] = "name"
        params["ExpressionAttributeValues"][":n"] = {"S": name}
    items: list[Any] = []
    while limit is None or len(items) < limit:
        if limit is not None:
            params["Limit"] = max(limit - len(items), 10)
        page = app.dynamodb.query(**params)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items if limit is None else items[:limit]


def _days(low: float, high: float) -> list[str]:
    """The UTC days from ``high`` back to ``low``, newest first."""
    days: list[str] = []
    at = high
    while True:
        day = index_day(at)
        if not days or days[-1] != day:
            days.append(day)
        if index_day(low) == day:
            return days
        at -= _DAY


def iter_tasks(
    app: App,
    *,
    states: Sequence[State] = (),
    name: str | None = None,
    since: float = _DAY,
    limit: int | None = 50,
    now: float | None = None,
) -> Iterator[TaskEntry]:
    """Tasks now in ``states`` (default: every indexed one) that entered them in the last ``since`` seconds.

    Newest first. A task that has left a state since (a RETRY claimed again) is not in it any more.

    ``name`` keeps one task name; ``limit`` stops after that many (None: all in the window). Expired
    entries (TTL deletion lags) are left out. NotIndexed if a state is not in the index.
    """
    wanted = check_states(app, states)
    high = clock.now() if now is None else now
    low = high - since
    found = 0
    with ThreadPoolExecutor(QUERY_THREADS) as pool:
        for day in _days(low, high):
            remaining = None if limit is None else limit - found
            partitions = [index_partition(s, day, shard) for s in wanted for shard in range(INDEX_SHARDS)]
            pages = pool.map(partial(_query, app, low=low, high=high, name=name, limit=remaining), partitions)
            merged = heapq.merge(*pages, key=lambda item: item[INDEX_SORT_ATTRIBUTE]["S"], reverse=True)
            for item in merged:
                if "expires_at" in item and float(item["expires_at"]["N"]) < high:
                    continue
                yield _entry(item)
                found += 1
                if limit is not None and found >= limit:
                    return


def list_tasks(
    app: App,
    *,
    states: Sequence[State] = (),
    name: str | None = None,
    since: float = _DAY,
    limit: int | None = 50,
) -> list[TaskEntry]:
    """:func:`iter_tasks` as a list."""
    return list(iter_tasks(app, states=states, name=name, since=since, limit=limit))


def counts_by_name(app: App, *, since: float = _DAY) -> dict[str, Counter[State]]:
    """For each task name, how many of its tasks are in each indexed state now, having entered it within ``since``.

    Not how many ever entered a state: a task that retried and then succeeded is no longer in RETRY, and it
    counts only under SUCCESS, when SUCCESS is indexed.
    """
    counts: dict[str, Counter[State]] = {}
    for entry in iter_tasks(app, since=since, limit=None):
        counts.setdefault(entry.name or "?", Counter())[entry.state] += 1
    return counts
