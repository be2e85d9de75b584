"""Changing limits without a redeploy (``app.limits``): set, clear, pause and resume a task or one key, read state.

The ``squall limits`` commands are tested in tests/cli/test_cli_limits.py."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from squall import Squall, State, clock, limits, local
from squall.errors import InvalidArguments, TaskNotRegistered
from squall.local import Runtime


@pytest.fixture
def app() -> Squall:
    return Squall("admin", queues=["default"])


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    starts: dict[str, list[float]] = defaultdict(list)

    @app.task(name="admin.sync", rate_limit="10/s", flow_key="customer")
    def sync(customer: str) -> str:
        starts[customer].append(clock.now())
        return customer

    @app.task(name="admin.free")
    def free() -> None: ...

    @app.task(name="admin.slots", concurrency_limit=2)
    def slots() -> None: ...

    return SimpleNamespace(sync=sync, free=free, slots=slots, starts=starts)


def item(rt: Runtime, pk: str) -> dict[str, Any]:
    found = rt.app.dynamodb.get_item(TableName=rt.settings.table, Key={"pk": {"S": pk}}, ConsistentRead=True)
    return dict(found.get("Item", {}))


@pytest.fixture
def rt(app: Squall, tasks: SimpleNamespace) -> Iterator[Runtime]:
    with local.run(app) as runtime:
        yield runtime


def spacing(times: list[float]) -> float:
    return min(b - a for a, b in itertools.pairwise(sorted(times)))


def test_a_lowered_rate_reaches_the_workers_within_the_cache_time(rt: Runtime, tasks: SimpleNamespace) -> None:
    rt.app.send_batch([tasks.sync.s("a") for _ in range(5)])
    rt.drain()
    assert spacing(tasks.starts["a"]) == pytest.approx(0.1, abs=1e-4)

    shown = rt.app.limits.set("admin.sync", rate="1/s")
    assert (shown.rate, shown.declared_rate, shown.overridden) == ("1/s", "10/s", True)
    rt.advance(limits.LIMITS_CACHE_SECONDS)  # the workers' cache of the old limits lapses
    rt.app.send_batch([tasks.sync.s("b") for _ in range(4)])
    rt.drain()
    assert spacing(tasks.starts["b"]) >= 1.0 - 1e-4

    assert rt.app.limits.clear("admin.sync").rate == "10/s"


def test_a_paused_key_waits_without_spending_attempts_until_resumed(rt: Runtime, tasks: SimpleNamespace) -> None:
    rt.app.limits.pause("admin.sync", key="held")
    held = tasks.sync.delay("held")
    other = tasks.sync.delay("other")

    rt.advance(minutes=5, run=True)

    assert other.state is State.SUCCESS
    assert held.state is State.PENDING
    assert tasks.starts["held"] == []
    assert [k.paused for k in rt.app.limits.get("admin.sync", keys=True).keys if k.key == "held"] == [True]
    rt.app.limits.resume("admin.sync", key="held")
    rt.drain()
    assert held.state is State.SUCCESS
    record = held.record
    assert record is not None
    assert record.attempt == 1
    assert rt.dead_letters() == []


def test_bad_changes_are_refused_naming_what_is_wrong(rt: Runtime, tasks: SimpleNamespace) -> None:
    with pytest.raises(InvalidArguments, match="rate must be a rate like"):
        rt.app.limits.set("admin.sync", rate="fast")
    with pytest.raises(InvalidArguments, match="concurrency must be an int from 1"):
        rt.app.limits.set("admin.sync", concurrency=0)
    with pytest.raises(InvalidArguments, match="declares no rate_limit or concurrency_limit"):
        rt.app.limits.set("admin.free", rate="1/s")
    with pytest.raises(InvalidArguments, match="give rate=, concurrency= or burst="):
        rt.app.limits.set("admin.sync")
    with pytest.raises(InvalidArguments, match="burst must be an int from 1"):
        rt.app.limits.set("admin.sync", burst=-2)
    with pytest.raises(InvalidArguments, match="burst shapes a rate limit and this task has none"):
        rt.app.limits.set("admin.slots", burst=5)
    with pytest.raises(InvalidArguments, match="rate allows 100000 per second, more than the 500"):
        rt.app.limits.set("admin.sync", rate="100000/s")
    with pytest.raises(TaskNotRegistered, match=r"no task named 'admin\.nope'"):
        rt.app.limits.set("admin.nope", rate="1/s")
    with pytest.raises(InvalidArguments, match="key must be 1-128 printable ASCII"):
        rt.app.limits.pause("admin.sync", key="")
    assert rt.app.limits.get("admin.sync").overridden is False  # nothing was written


def test_pausing_a_whole_keyed_task_holds_every_key_within_the_cache_time(rt: Runtime, tasks: SimpleNamespace) -> None:
    tasks.sync.delay("warm")
    rt.drain()  # the workers have read (and cached) the task's limits

    rt.app.limits.pause("admin.sync")
    assert rt.app.limits.get("admin.sync").paused is True
    rt.advance(limits.LIMITS_CACHE_SECONDS)
    held = [tasks.sync.delay(customer) for customer in ("a", "b", "c")]
    rt.advance(minutes=5, run=True)
    assert [h.state for h in held] == [State.PENDING] * 3
    assert [tasks.starts[c] for c in "abc"] == [[], [], []]

    rt.app.limits.resume("admin.sync")
    rt.advance(limits.PAUSED_RECHECK_SECONDS, run=True)
    assert all(h.state is State.SUCCESS and h.record is not None and h.record.attempt == 1 for h in held)
    assert rt.app.limits.get("admin.sync").paused is False
    assert rt.dead_letters() == []


def test_a_paused_key_keeps_its_state_past_the_ttl_and_gets_it_back_on_resume(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    tasks.sync.delay("acme")
    rt.drain()
    rate_item = "limit#rate#admin.sync#acme"
    assert "expires_at" in item(rt, rate_item)  # a key nobody uses expires

    rt.app.limits.pause("admin.sync", key="acme")
    assert "expires_at" not in item(rt, rate_item)  # a pause does not
    assert item(rt, rate_item)["paused"] == {"BOOL": True}

    rt.app.limits.resume("admin.sync", key="acme")
    resumed = item(rt, rate_item)
    assert "paused" not in resumed
    assert float(resumed["expires_at"]["N"]) > rt.clock.now()


def test_get_reads_one_key_or_every_key_with_its_tat_holders_and_pause(rt: Runtime, tasks: SimpleNamespace) -> None:
    rt.app.send_batch([tasks.sync.s(c) for c in ("a", "a", "b")])
    rt.drain()
    rt.app.limits.set("admin.sync", concurrency=3)
    rt.app.limits.pause("admin.sync", key="b")

    one = rt.app.limits.get("admin.sync", key="a")
    every = rt.app.limits.get("admin.sync", keys=True)

    assert [k.key for k in one.keys] == ["a"]
    assert one.keys[0].tat is not None
    assert one.keys[0].tat >= tasks.starts["a"][-1]  # the slot after the last one given
    assert {k.key: k.paused for k in every.keys} == {"a": False, "b": True}
    assert all(k.held == 0 and k.holders == {} for k in every.keys)
    shown = every.to_dict()
    assert shown["declared"] == {"rate": "10/s", "burst": 1, "concurrency": None}
    assert (shown["rate"], shown["concurrency"], shown["overridden"]) == ("10/s", 3, True)
    assert rt.app.limits.clear("admin.sync").concurrency is None
    assert [row.task for row in rt.app.limits.list()] == ["admin.slots", "admin.sync"]
