"""Priority lanes on the local runtime: a flood of low-priority work never delays high-priority work past the
stated bound (measured with every event source polling at once), retries, long delays and dead letters keep
their lane, and a priority naming no lane is refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from squall import Queue, Squall, State, clock, local
from squall.deploy.lanes import start_bound
from squall.errors import InvalidArguments
from squall.local import Runtime
from squall.ops import dlq
from squall.tasks.task import Retry

#: The flood: this many low-priority tasks, each holding its invocation this many fake seconds.
FLOOD, TASK_SECONDS = 500, 3.0
#: When the high-priority calls are sent, after the flood (seconds from the start), and how many at each.
HIGH_AT, HIGH_BURST = (20.0, 60.0, 100.0), 3


def declare(app: Squall) -> tuple[Any, dict[int, float]]:
    """The flood's task, untracked (no DynamoDB writes, so 500 of them run quickly), and when each call started."""
    starts: dict[int, float] = {}

    @app.task(queue="emails", max_retries=0, track=False)
    def send_email(n: int) -> int:
        starts.setdefault(n, clock.now())
        clock.sleep(TASK_SECONDS)
        return n

    return send_email, starts


def flood_then_urgent(
    rt: Runtime, declared: tuple[Any, dict[int, float]], priority: str | None
) -> tuple[list[float], float]:
    """Send the flood now and the urgent calls later, while it drains; run everything with every event source
    polling at once. Returns the urgent calls' waits (send to start) and how many flood calls started after
    the first urgent one did (the flood they overtook)."""
    task, starts = declared
    t0 = rt.clock.now()
    flood = [task.s(i) if priority is None else task.s(i).set(priority="low") for i in range(FLOOD)]
    rt.app.send_batch(flood)
    sent: dict[int, float] = {}

    def urgent() -> None:
        for _ in range(HIGH_BURST):
            n = FLOOD + len(sent)
            call = task.s(n) if priority is None else task.s(n).set(priority=priority)
            call.delay()
            sent[n] = rt.clock.now()

    calls: list[tuple[float, Callable[[], object]]] = [(t0 + at, urgent) for at in HIGH_AT]
    rt.run_concurrently(at=calls)
    assert len(starts) == FLOOD + len(sent)  # every call ran
    waits = [starts[n] - when for n, when in sent.items()]
    first = min(starts[n] for n in sent)
    return waits, sum(1 for n in range(FLOOD) if starts[n] > first)


def test_a_flood_on_the_low_lane_never_delays_the_high_lane_past_its_bound_as_one_lane_would() -> None:
    # Given one queue with two lanes (the high one a small share), and the same queue without lanes: the same
    # total concurrency (10), batch size (10) and batching window (0).
    laned = Squall("lanes", queues=[Queue("emails", lanes=("high", "low"), lane_concurrency={"high": 2, "low": 8})])
    single = Squall("onelane", queues=[Queue("emails", max_concurrency=10)])
    bound = start_bound(batching_window=0, batch_size=10, longest_task=TASK_SECONDS)
    assert bound == 27.0

    with local.run(laned) as rt:
        waits, overtaken = flood_then_urgent(rt, declare(laned), "high")
        assert overtaken > FLOOD // 2  # the urgent calls ran while most of the flood still waited
        high = [i for i in rt.invocations if i.queue == "emails:high"]
        assert sum(len(i.message_ids) for i in high) == len(HIGH_AT) * HIGH_BURST  # the high lane ran them
        # Then every high-priority call started within the bound: at most the calls ahead of it in its batch.
        assert max(waits) <= bound
        assert sorted(waits) == [0.0] * 3 + [TASK_SECONDS] * 3 + [2 * TASK_SECONDS] * 3  # measured

    with local.run(single) as rt:
        one_lane_waits, overtaken = flood_then_urgent(rt, declare(single), None)
        # On one lane the same calls wait behind the whole flood sent before them, far past the bound.
        assert overtaken == 0
        assert min(one_lane_waits) > 2 * bound
        assert sorted(one_lane_waits) == [68.0, 71.0, 74.0, 99.0, 102.0, 105.0, 130.0, 133.0, 136.0]  # measured


def test_a_call_without_priority_takes_the_default_lane_and_priority_picks_another(rt_lanes: Runtime) -> None:
    task = rt_lanes.app.get_task("tests.lanes.note")
    task.delay("plain")
    task.apply_async(("urgent",), priority="high")
    assert (rt_lanes.queued("emails:normal"), rt_lanes.queued("emails:high"), rt_lanes.queued("emails:low")) == (
        1,
        1,
        0,
    )
    assert rt_lanes.queued("emails") == 2  # a queue with lanes counts its lanes' messages


def test_a_retry_keeps_its_lane(rt_lanes: Runtime) -> None:
    task = rt_lanes.app.get_task("tests.lanes.flaky")
    result = task.apply_async(("a",), priority="high")

    rt_lanes.poll("emails")  # the first attempt fails and sends its retry

    assert result.state is State.RETRY
    assert (rt_lanes.queued("emails:high"), rt_lanes.queued("emails:normal"), rt_lanes.queued("emails:low")) == (
        1,
        0,
        0,
    )
    rt_lanes.drain()
    assert result.state is State.SUCCESS
    assert {i.queue for i in rt_lanes.invocations} == {"emails:high"}


def test_long_delays_and_long_retries_are_scheduled_onto_the_lane(rt_lanes: Runtime) -> None:
    high = rt_lanes.settings.queue("emails:high").arn
    task = rt_lanes.app.get_task("tests.lanes.slow_retry")
    result = task.apply_async(("b",), priority="high", countdown=2_000)

    schedules = rt_lanes.app.scheduler.list_schedules(GroupName=rt_lanes.settings.schedule_group)["Schedules"]
    assert [s["Target"]["Arn"] for s in schedules] == [high]
    rt_lanes.drain()  # fires at its time on the high lane; the attempt asks for a retry an hour later
    assert result.state is State.SUCCESS
    assert {i.queue for i in rt_lanes.invocations} == {"emails:high"}
    assert len(rt_lanes.invocations) == 2


def test_a_dead_task_is_lettered_in_its_lanes_dlq_and_redriven_back_onto_its_lane(rt_lanes: Runtime) -> None:
    task = rt_lanes.app.get_task("tests.lanes.doomed")
    result = task.apply_async(("c",), priority="high")
    rt_lanes.drain()
    assert result.state is State.DEAD
    assert (len(rt_lanes.dead_letters("emails:high")), len(rt_lanes.dead_letters("emails:low"))) == (1, 0)

    report = dlq.redrive(rt_lanes.app, queue="emails")  # a queue with lanes covers each lane's DLQ

    assert [letter.queue for letter in report.moved] == ["emails:high"]
    assert rt_lanes.queued("emails:high") == 1
    assert rt_lanes.queued("emails:normal") == 0


def test_a_priority_naming_no_lane_is_refused_and_names_the_lanes(rt_lanes: Runtime) -> None:
    task = rt_lanes.app.get_task("tests.lanes.note")
    with pytest.raises(
        InvalidArguments, match=r"priority='urgent' is not a lane of queue 'emails'; give one of high, normal, low"
    ):
        task.apply_async(("x",), priority="urgent")
    plain = rt_lanes.app.get_task("tests.lanes.plain")
    with pytest.raises(InvalidArguments, match="queue 'default' has no priority lanes; drop priority="):
        plain.apply_async((), priority="high")
    assert rt_lanes.queued() == 0  # nothing was sent


@pytest.fixture
def rt_lanes() -> Any:
    app = Squall(
        "lanes",
        queues=["default", Queue("emails", lanes=("high", "normal", "low"), default_lane="normal", max_concurrency=6)],
    )
    failed: list[str] = []

    @app.task(name="tests.lanes.note", queue="emails")
    def note(text: str) -> str:
        return text

    @app.task(name="tests.lanes.flaky", queue="emails", max_retries=2, retry_backoff=1, retry_jitter=False)
    def flaky(key: str) -> str:
        if key not in failed:
            failed.append(key)
            raise ConnectionError("once")
        return key

    @app.task(name="tests.lanes.slow_retry", queue="emails", max_retries=1)
    def slow_retry(key: str) -> str:
        if key not in failed:
            failed.append(key)
            raise Retry(countdown=3_600)
        return key

    @app.task(name="tests.lanes.doomed", queue="emails", max_retries=0)
    def doomed(key: str) -> None:
        raise ValueError(key)

    @app.task(name="tests.lanes.plain")
    def plain() -> None: ...

    with local.run(app) as rt:
        yield rt
