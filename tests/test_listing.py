"""Listing tasks by state and time: the sparse index, what it costs, and the queries over it."""

from __future__ import annotations

import json
import uuid
import zlib
from collections import Counter
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from squall import Squall, State, TaskContext, local
from squall.deploy.topology import describe
from squall.errors import NotIndexed
from squall.local import Runtime
from squall.ops.listing import check_states, counts_by_name, list_tasks, parse_duration
from squall.state.schema import (
    INDEX_NAME,
    INDEX_PARTITION_ATTRIBUTE,
    INDEX_PROJECTED_ATTRIBUTES,
    INDEX_SHARDS,
    INDEX_SORT_ATTRIBUTE,
    index_keys,
    task_key,
)


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    @app.task(name="ok")
    def ok(n: int) -> int:
        return n

    @app.task(name="broken", max_retries=0)
    def broken(n: int) -> int:
        raise ValueError(f"broken {n}")

    @app.task(name="flaky", bind=True, max_retries=2, retry_backoff=1)
    def flaky(task: TaskContext, n: int) -> int:
        if task.request.attempt == 1:
            raise ConnectionError("try again")
        return n

    @app.task(name="other", max_retries=0)
    def other(n: int) -> int:
        raise KeyError(n)

    return SimpleNamespace(ok=ok, broken=broken, flaky=flaky, other=other)


class IndexMeter:
    """DynamoDB's billing of a GSI with INCLUDE projection, applied to every UpdateItem the app makes.

    An index write happens when an item enters the index (1), leaves it (1), moves within it (2: delete and
    put), or changes a projected attribute while in it (1). moto does not report index capacity, so the
    meter reads each item after each write with its own client.
    """

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.reader = rt.session.client("dynamodb", region_name=rt.settings.region)
        self.table_writes = 0
        self.index_writes = 0
        self._keys: list[dict[str, Any]] = []
        self._seen: dict[str, tuple[Any, ...]] = {}
        events = rt.app.dynamodb.meta.events
        events.register("before-call.dynamodb.UpdateItem", self._before)
        events.register("after-call.dynamodb.UpdateItem", self._after)

    def _view(self, key: dict[str, Any]) -> tuple[Any, ...]:
        item = self.reader.get_item(TableName=self.rt.settings.table, Key=key, ConsistentRead=True).get("Item", {})
        if INDEX_PARTITION_ATTRIBUTE not in item:
            return ()
        names = (INDEX_PARTITION_ATTRIBUTE, INDEX_SORT_ATTRIBUTE, *INDEX_PROJECTED_ATTRIBUTES)
        return tuple(json.dumps(item.get(name), sort_keys=True) for name in names)

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        self._keys.append(json.loads(params["body"])["Key"])

    def _after(self, parsed: dict[str, Any], **_: Any) -> None:
        key = self._keys.pop()
        if "Error" in parsed:
            return  # a refused conditional write changes nothing
        self.table_writes += 1
        pk = key["pk"]["S"]
        before, after = self._seen.get(pk, ()), self._view(key)
        if before and after:
            self.index_writes += 2 if before[:2] != after[:2] else int(before != after)
        elif before or after:
            self.index_writes += 1
        self._seen[pk] = after


@pytest.fixture
def meter(rt: Runtime) -> IndexMeter:
    return IndexMeter(rt)


def test_a_successful_task_costs_two_table_writes_and_no_index_write(
    rt: Runtime, tasks: SimpleNamespace, meter: IndexMeter
) -> None:
    tasks.ok.delay(1)

    rt.drain()

    assert (meter.table_writes, meter.index_writes) == (2, 0)


def test_a_task_that_dies_at_once_costs_one_index_write(rt: Runtime, tasks: SimpleNamespace, meter: IndexMeter) -> None:
    tasks.broken.delay(1)

    rt.drain()

    # claim, DEAD, and the note that its letter is in the DLQ (lettered_at is not projected into the index)
    assert (meter.table_writes, meter.index_writes) == (3, 1)


def test_a_retry_costs_one_index_write_to_enter_and_one_to_leave(
    rt: Runtime, tasks: SimpleNamespace, meter: IndexMeter
) -> None:
    result = tasks.flaky.delay(7)

    rt.drain()

    assert result.get(timeout=0) == 7
    assert (meter.table_writes, meter.index_writes) == (4, 2)
    assert list_tasks(rt.app) == []  # the RETRY entry left when the second attempt claimed the task


def test_index_success_costs_exactly_one_more_write_per_task() -> None:
    app = Squall(f"test-{uuid.uuid4().hex[:8]}", index_success=True)

    @app.task(name="ok")
    def ok(n: int) -> int:
        return n

    with local.run(app) as rt:
        meter = IndexMeter(rt)
        result = ok.delay(1)
        rt.drain()

        assert (meter.table_writes, meter.index_writes) == (2, 1)
        [entry] = list_tasks(app, states=[State.SUCCESS])
        assert (entry.id, entry.state, entry.name) == (result.id, State.SUCCESS, "ok")


def test_failed_and_revoked_tasks_are_listed_newest_first_with_their_name_and_attempt(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    first = tasks.broken.delay(1)
    rt.drain()
    rt.advance(5)
    revoked = rt.app.revoke("never-ran")
    rt.advance(5)
    last = tasks.other.delay(2)
    rt.drain()

    entries = list_tasks(rt.app)

    assert str(revoked) == "UNKNOWN"  # no record of "never-ran" before: it is marked REVOKED all the same
    assert [(e.id, e.state, e.name) for e in entries] == [
        (last.id, State.DEAD, "other"),
        ("never-ran", State.REVOKED, None),
        (first.id, State.DEAD, "broken"),
    ]
    assert entries[0].attempt == 1
    assert entries[0].queue == "default"
    assert entries[0].at == pytest.approx(rt.clock.now(), abs=1)


def test_a_state_and_a_name_narrow_the_listing(rt: Runtime, tasks: SimpleNamespace) -> None:
    broken = [tasks.broken.delay(n) for n in range(3)]
    tasks.other.delay(9)
    rt.app.revoke("cancelled")
    rt.drain()

    dead_broken = list_tasks(rt.app, states=[State.DEAD], name="broken")
    revoked = list_tasks(rt.app, states=[State.REVOKED])

    assert sorted(e.id for e in dead_broken) == sorted(r.id for r in broken)
    assert [e.id for e in revoked] == ["cancelled"]


def test_since_reads_back_across_day_buckets_and_stops_at_the_window(rt: Runtime, tasks: SimpleNamespace) -> None:
    # The fake clock starts at the real time and only moves forward: the midnight is four days ahead, so that
    # every jump below is forward, whatever time of day the test runs.
    now = datetime.fromtimestamp(rt.clock.now(), UTC)
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC).timestamp() + 4 * 86_400
    rt.clock.set(midnight - 3 * 86_400)  # type: ignore[attr-defined]
    oldest = tasks.broken.delay(0)
    rt.drain()
    rt.clock.set(midnight - 60)  # type: ignore[attr-defined]
    before = tasks.broken.delay(1)
    rt.drain()
    rt.clock.set(midnight + 60)  # type: ignore[attr-defined]
    after = tasks.broken.delay(2)
    rt.drain()

    assert [e.id for e in list_tasks(rt.app, since=3600)] == [after.id, before.id]
    assert [e.id for e in list_tasks(rt.app, since=90)] == [after.id]
    assert [e.id for e in list_tasks(rt.app, since=4 * 86_400)] == [after.id, before.id, oldest.id]


def test_the_limit_keeps_the_newest_across_shards(rt: Runtime, tasks: SimpleNamespace) -> None:
    results = []
    for n in range(20):
        results.append(tasks.broken.delay(n))
        rt.drain()
        rt.advance(1)

    entries = list_tasks(rt.app, limit=7)

    assert [e.id for e in entries] == [r.id for r in reversed(results[-7:])]
    assert len({index_keys(r.id, State.DEAD, 0)[INDEX_PARTITION_ATTRIBUTE]["S"] for r in results}) > 1


def test_expired_entries_are_left_out(rt: Runtime, tasks: SimpleNamespace) -> None:
    gone = tasks.broken.delay(1)
    rt.drain()
    rt.app.dynamodb.update_item(
        TableName=rt.settings.table,
        Key=task_key(gone.id),
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(rt.clock.now()) - 1)}},
    )

    assert list_tasks(rt.app) == []


def test_counts_by_name_count_each_state(rt: Runtime, tasks: SimpleNamespace) -> None:
    for n in range(3):
        tasks.broken.delay(n)
    tasks.other.delay(1)
    rt.drain()

    counts = counts_by_name(rt.app)

    assert counts == {"broken": Counter({State.DEAD: 3}), "other": Counter({State.DEAD: 1})}


@pytest.mark.parametrize("state", [State.SUCCESS, State.STARTED, State.PENDING])
def test_states_outside_the_index_are_refused_with_why_and_what_to_do(app: Squall, state: State) -> None:
    with pytest.raises(NotIndexed) as caught:
        check_states(app, [state])

    assert "index_success=True" in str(caught.value) if state is State.SUCCESS else "squall status" in str(caught.value)


def test_index_keys_partition_by_state_day_and_a_stable_shard() -> None:
    at = datetime(2026, 11, 23, 9, 30, tzinfo=UTC).timestamp()

    keys = index_keys("task-1", State.DEAD, at)

    shard = zlib.crc32(b"task-1") % INDEX_SHARDS
    assert keys[INDEX_PARTITION_ATTRIBUTE]["S"] == f"DEAD#2026-11-23#{shard}"
    assert keys[INDEX_SORT_ATTRIBUTE]["S"] == f"{int(at * 1000):013d}#task-1"


def test_a_burst_of_failures_spreads_over_every_shard() -> None:
    shards = Counter(
        index_keys(str(uuid.uuid4()), State.DEAD, 0)[INDEX_PARTITION_ATTRIBUTE]["S"].rsplit("#", 1)[1]
        for _ in range(4000)
    )

    assert len(shards) == INDEX_SHARDS
    assert min(shards.values()) > 0.8 * 4000 / INDEX_SHARDS


def test_the_local_table_has_the_index_the_shared_description_names(rt: Runtime) -> None:
    table = describe(rt.app).table

    [index] = rt.app.dynamodb.describe_table(TableName=rt.settings.table)["Table"]["GlobalSecondaryIndexes"]

    assert index["IndexName"] == table.index_name == INDEX_NAME
    assert [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]] == [
        (table.index_partition_key, "HASH"),
        (table.index_sort_key, "RANGE"),
    ]
    assert index["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": list(table.index_non_key_attributes),
    }


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("1h", 3600), ("2d", 172_800), ("1w", 604_800), ("1h30m", 5400)]
)
def test_durations_read_like_people_write_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "1 hour", "-1h", "1h-"])
def test_a_bad_duration_says_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match="use a number and a unit"):
        parse_duration(text)


@pytest.fixture
def many_queries(rt: Runtime) -> list[str]:
    partitions: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        partitions.append(json.loads(params["body"])["ExpressionAttributeValues"][":p"]["S"])

    rt.app.dynamodb.meta.events.register("before-call.dynamodb.Query", record)
    return partitions


def test_a_listing_queries_each_state_and_shard_of_each_day_and_never_scans(
    rt: Runtime, tasks: SimpleNamespace, many_queries: list[str], calls: Any
) -> None:
    tasks.broken.delay(1)
    rt.drain()
    calls.reset()

    list_tasks(rt.app, states=[State.DEAD], since=60)

    assert calls.count("Scan") == 0
    assert len(many_queries) == INDEX_SHARDS
    assert all(p.startswith("DEAD#") for p in many_queries)
