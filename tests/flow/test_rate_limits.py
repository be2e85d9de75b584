"""Global rate limits on the fake clock: evenly spaced admissions, a backlog drained at the limit, per-key budgets,
throttled limiter writes, and the write units an admission costs."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from squall import Queue, Squall, State, clock, local
from squall.errors import TaskDefinitionError
from squall.handler import make_handler
from squall.local import Runtime

EPSILON = 1e-4  # float drift of clock readings over a few dozen steps


@pytest.fixture
def app(request: pytest.FixtureRequest) -> Squall:
    batch = getattr(request, "param", 10)
    return Squall("rates", queues=[Queue("default", batch_size=batch)])


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    starts: dict[str, list[float]] = defaultdict(list)

    @app.task(rate_limit="10/s")
    def charge(i: int) -> int:
        starts["charge"].append(clock.now())
        return i

    @app.task(rate_limit="1/s", flow_key="customer")
    def sync(customer: str, i: int) -> str:
        starts[customer].append(clock.now())
        return customer

    @app.task(rate_limit="2/s", burst=3)
    def bursty(i: int) -> int:
        starts["bursty"].append(clock.now())
        return i

    @app.task(rate_limit="6/m")
    def slow(i: int) -> int:
        starts["slow"].append(clock.now())
        return i

    @app.task(rate_limit="5/s", track=False)
    def untracked(i: int) -> int:
        starts["untracked"].append(clock.now())
        return i

    @app.task
    def free(i: int) -> int:
        starts["free"].append(clock.now())
        return i

    return SimpleNamespace(
        charge=charge, sync=sync, bursty=bursty, slow=slow, untracked=untracked, free=free, starts=starts
    )


def limiter_writes(rt: Runtime) -> Counter[str]:
    """UpdateItem calls from now on, by item kind: the limiter's ("limiter") or the tasks' ("task")."""
    writes: Counter[str] = Counter()

    def count(params: dict[str, Any], **_: Any) -> None:
        key = params.get("Key", {}).get("pk", {}).get("S", "")
        writes["limiter" if key.startswith("limit#") else "task"] += 1

    rt.app.dynamodb.meta.events.register("before-parameter-build.dynamodb.UpdateItem", count)
    return writes


def two_workers(rt: Runtime) -> None:
    """Two invocations a round, each its own worker (its own executor, limiter and cached ``tat``), in turn."""
    workers = itertools.cycle([make_handler(rt.app), make_handler(rt.app)])
    for mapping in rt.mappings:
        mapping.handler = lambda event, context: next(workers)(event, context)
        mapping.concurrency = 2


@pytest.fixture
def rt(app: Squall, tasks: SimpleNamespace) -> Iterator[Runtime]:
    with local.run(app) as runtime:
        yield runtime


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(sorted(times))]


def test_fifty_tasks_at_ten_a_second_are_spaced_and_drain_at_the_limit(rt: Runtime, tasks: SimpleNamespace) -> None:
    results = rt.app.send_batch([tasks.charge.s(i) for i in range(50)])
    sent = rt.clock.now()

    rt.drain()

    starts = sorted(tasks.starts["charge"])
    assert len(starts) == 50
    assert starts[-1] - starts[0] >= 4.9 - EPSILON  # 49 intervals of 0.1 s: never faster than the limit
    assert min(gaps(starts)) >= 0.1 - EPSILON  # evenly spaced, no burst
    assert starts[-1] - sent <= 6.5  # and the backlog drained at the limit, not below it
    assert all(r.state is State.SUCCESS for r in results)
    assert rt.dead_letters() == []
    assert rt.queued() == 0
    for window_start in starts:  # over any one-second window (half open), at most 10
        assert sum(1 for t in starts if window_start <= t < window_start + 1.0 - EPSILON) <= 10


def test_two_keys_interleave_while_each_is_spread(rt: Runtime, tasks: SimpleNamespace) -> None:
    rt.app.send_batch([tasks.sync.s(customer, i) for i in range(5) for customer in ("acme", "globex")])

    rt.drain()

    acme, globex = sorted(tasks.starts["acme"]), sorted(tasks.starts["globex"])
    assert len(acme) == len(globex) == 5
    assert min(gaps(acme)) >= 1.0 - EPSILON
    assert min(gaps(globex)) >= 1.0 - EPSILON
    assert abs(acme[0] - globex[0]) < 0.5  # the second key does not wait behind the first
    assert acme[-1] - acme[0] <= 5.5


def test_a_call_time_flow_key_overrides_the_argument(rt: Runtime, tasks: SimpleNamespace) -> None:
    for i in range(3):
        tasks.sync.apply_async(("acme", i), flow_key="shared")
        tasks.sync.apply_async(("globex", i), flow_key="shared")

    rt.drain()

    together = tasks.starts["acme"] + tasks.starts["globex"]
    assert min(gaps(together)) >= 1.0 - EPSILON  # one budget for the six calls


def test_a_burst_lets_that_many_through_at_once_then_spaces_the_rest(rt: Runtime, tasks: SimpleNamespace) -> None:
    rt.app.send_batch([tasks.bursty.s(i) for i in range(7)])

    rt.drain()

    starts = sorted(tasks.starts["bursty"])
    assert starts[2] - starts[0] < 0.01  # three at once
    assert min(gaps(starts[2:])) >= 0.5 - EPSILON  # then 2/s
    assert starts[-1] - starts[0] >= 4 * 0.5 - EPSILON


@pytest.mark.parametrize("app", [1], indirect=True)
def test_a_rate_slower_than_the_horizon_waits_on_the_queue_and_starts_on_time(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    sent = rt.clock.now()
    rt.app.send_batch([tasks.slow.s(i) for i in range(4)])

    rt.drain()

    starts = sorted(tasks.starts["slow"])
    assert min(gaps(starts)) >= 10 - EPSILON  # 6/m: one every 10 s
    assert starts[-1] - sent <= 3 * 10 + 1  # the slots are taken as they come, not missed
    assert len(rt.invocations) <= 4 * 4  # deferred to the slot, not polled for it


def test_a_key_whose_item_went_away_is_idle_again(rt: Runtime, tasks: SimpleNamespace) -> None:
    tasks.slow.delay(0)
    rt.drain()
    # The item expires (TTL) or is deleted while the worker still remembers its tat, 10 s ahead
    rt.app.dynamodb.delete_item(TableName=rt.settings.table, Key={"pk": {"S": f"limit#rate#{tasks.slow.name}#*"}})
    later = tasks.slow.delay(1)

    rt.drain()

    assert later.state is State.SUCCESS
    assert tasks.starts["slow"][-1] - tasks.starts["slow"][0] <= 10 + 1  # not deferred for ever


def test_a_throttled_limiter_write_defers_and_never_admits_past_the_limit(rt: Runtime, tasks: SimpleNamespace) -> None:
    throttled = Counter[str]()

    def throttle(params: dict[str, Any], **_: Any) -> None:
        key = params.get("Key", {}).get("pk", {}).get("S", "")
        if key.startswith("limit#rate#") and throttled["n"] < 6:
            throttled["n"] += 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "UpdateItem"
            )

    rt.app.dynamodb.meta.events.register("before-parameter-build.dynamodb.UpdateItem", throttle)
    results = rt.app.send_batch([tasks.charge.s(i) for i in range(20)])

    rt.drain()

    assert throttled["n"] == 6
    assert all(r.state is State.SUCCESS for r in results)
    assert all(r.record is not None and r.record.attempt == 1 for r in results)  # no attempt spent waiting
    assert min(gaps(tasks.starts["charge"])) >= 0.1 - EPSILON
    assert rt.dead_letters() == []


def test_an_admission_costs_one_write_unit_when_uncontended(rt: Runtime, tasks: SimpleNamespace) -> None:
    writes = limiter_writes(rt)
    rt.app.send_batch([tasks.charge.s(i) for i in range(30)])

    rt.drain()

    assert writes["task"] == 60  # claim + finish each
    assert writes["limiter"] == 30  # one conditional write per admitted task: items well under 1 KB


def test_two_workers_share_the_limit_for_about_one_extra_write_a_batch(rt: Runtime, tasks: SimpleNamespace) -> None:
    two_workers(rt)
    writes = limiter_writes(rt)
    results = rt.app.send_batch([tasks.charge.s(i) for i in range(50)])

    rt.drain()

    starts = sorted(tasks.starts["charge"])
    assert min(gaps(starts)) >= 0.1 - EPSILON  # the other worker's admissions are counted too
    assert all(r.state is State.SUCCESS for r in results)
    # Each batch taken over from the other worker starts with a stale tat: one failed write, which returns the
    # real one. Measured: 54 writes for 50 admissions (batches of 10).
    assert 50 < writes["limiter"] <= 50 + 50 // 10 + 1


@pytest.mark.parametrize("app", [1], indirect=True)
def test_two_workers_taking_turns_each_message_pay_at_most_two_writes(rt: Runtime, tasks: SimpleNamespace) -> None:
    two_workers(rt)
    writes = limiter_writes(rt)
    rt.app.send_batch([tasks.charge.s(i) for i in range(20)])

    rt.drain()

    assert min(gaps(tasks.starts["charge"])) >= 0.1 - EPSILON
    assert len(tasks.starts["charge"]) == 20
    assert writes["limiter"] <= 2 * 20  # every admission after the other worker's: one lost race, at most


def test_a_task_without_limits_makes_no_limiter_call(rt: Runtime, tasks: SimpleNamespace) -> None:
    calls: Counter[str] = Counter()

    def count(event_name: str, params: dict[str, Any], **_: Any) -> None:
        if params.get("Key", {}).get("pk", {}).get("S", "").startswith("limit#"):
            calls[event_name] += 1

    rt.app.dynamodb.meta.events.register("before-parameter-build.dynamodb", count)
    rt.app.send_batch([tasks.free.s(i) for i in range(10)])
    rt.drain()
    assert len(tasks.starts["free"]) == 10
    assert calls == Counter()

    tasks.charge.delay(0)  # the same counting sees a limited task's calls
    rt.drain()
    assert sum(calls.values()) >= 1


def test_an_untracked_task_is_limited_too(rt: Runtime, tasks: SimpleNamespace) -> None:
    rt.app.send_batch([tasks.untracked.s(i) for i in range(6)])

    rt.drain()

    starts = tasks.starts["untracked"]
    assert len(starts) == 6
    assert min(gaps(starts)) >= 0.2 - EPSILON
    assert rt.dead_letters() == []


def test_a_limiter_that_fails_otherwise_defers_and_never_admits(rt: Runtime, tasks: SimpleNamespace) -> None:
    # An override no worker can read (written by hand): the limiter cannot know the limit, so nothing runs
    rt.app.dynamodb.put_item(
        TableName=rt.settings.table, Item={"pk": {"S": f"limit#config#{tasks.charge.name}"}, "rate": {"S": "?"}}
    )
    result = tasks.charge.delay(0)

    rt.advance(minutes=2, run=True)

    assert tasks.starts["charge"] == []
    assert result.state is State.PENDING
    rt.app.limits.clear(tasks.charge.name)
    rt.drain()
    assert result.state is State.SUCCESS
    assert rt.dead_letters() == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate_limit": "10/x"}, "option 'rate_limit' must be a rate like"),
        ({"rate_limit": "0/s"}, "option 'rate_limit' must allow more than 0"),
        ({"rate_limit": "-1/s"}, "option 'rate_limit' must be a rate like"),
        ({"rate_limit": "100000/s"}, "more than the 500 per second"),
        ({"rate_limit": "1/s", "burst": 0}, "option 'burst' must be an int from 1"),
        ({"burst": 3}, "option 'burst' shapes a rate limit"),
        ({"concurrency_limit": 0}, "option 'concurrency_limit' must be an int from 1"),
        ({"flow_key": "customer"}, "option 'flow_key' keys a limit"),
        ({"rate_limit": "1/s", "flow_key": "tenant"}, "option 'flow_key' names argument 'tenant'"),
    ],
)
def test_malformed_limits_are_refused_at_declaration_naming_the_option(
    app: Squall, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(TaskDefinitionError, match=message):

        @app.task(**options)
        def limited(customer: str) -> None: ...
