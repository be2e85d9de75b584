"""Untracked tasks (``track=False``): zero DynamoDB writes, with retries, the DLQ and long delays still working.

Every DynamoDB call the app's client makes is counted from the send to the end of the drain; the retry budget
comes from the envelope (the attempt travels in it), a task that fails for good is dead-lettered with its reason,
and a handle on an untracked task says so instead of reading PENDING for ever.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from squall import Squall, TaskContext, chain, local
from squall.errors import InvalidArguments, TaskUntracked
from squall.local import Runtime
from squall.ops import dlq
from squall.worker.deadletters import REASON_ATTRIBUTE

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


@pytest.fixture
def app() -> Squall:
    return Squall("untracked", queues=["default"])


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    runs: list[tuple[str, int]] = []
    failures: Counter[str] = Counter()

    @app.task(track=False)
    def ping(label: str) -> str:
        runs.append((label, 0))
        return label

    @app.task(track=False, bind=True, max_retries=3, retry_backoff=5, retry_jitter=False)
    def warm(ctx: TaskContext, label: str, fail_times: int) -> None:
        runs.append((label, ctx.request.attempt))
        ctx.progress(50)  # goes nowhere, writes nothing
        failures[label] += 1
        if failures[label] <= fail_times:
            raise ConnectionError(f"{label} failed on attempt {ctx.request.attempt}")

    @app.task(track=False, bind=True)
    def asks(ctx: TaskContext, label: str) -> None:
        runs.append((label, ctx.request.attempt))
        raise ctx.retry(countdown=1, max_retries=1)

    @app.task
    def tracked(label: str) -> str:
        return label

    return SimpleNamespace(ping=ping, warm=warm, asks=asks, tracked=tracked, runs=runs)


@pytest.fixture
def rt(app: Squall, tasks: SimpleNamespace) -> Iterator[Runtime]:
    with local.run(app) as runtime:
        yield runtime


@pytest.fixture
def dynamodb_calls(rt: Runtime) -> Iterator[Counter[str]]:
    calls: Counter[str] = Counter()

    def count(event_name: str, **_: Any) -> None:
        calls[event_name.rsplit(".", 1)[-1]] += 1

    events = rt.app.dynamodb.meta.events
    events.register("before-call.dynamodb", count)
    yield calls
    events.unregister("before-call.dynamodb", count)


def writes(calls: Counter[str]) -> int:
    return sum(n for name, n in calls.items() if name in WRITES)


def test_untracked_tasks_make_zero_dynamodb_writes_from_send_to_success(
    rt: Runtime, tasks: SimpleNamespace, dynamodb_calls: Counter[str]
) -> None:
    for i in range(20):
        tasks.ping.delay(f"p{i}")
    tasks.ping.apply_async(("later",), countdown=600)

    rt.drain()

    assert sorted(label for label, _ in tasks.runs) == sorted([f"p{i}" for i in range(20)] + ["later"])
    assert writes(dynamodb_calls) == 0, dynamodb_calls
    assert rt.queued() == 0
    assert rt.dead_letters() == []


def test_the_counter_sees_a_tracked_task_write(rt: Runtime, tasks: SimpleNamespace, dynamodb_calls: Counter) -> None:
    # The same counting catches writes when there are some (the check above can fail)
    tasks.tracked.delay("t")
    rt.drain()
    assert writes(dynamodb_calls) >= 2


def test_retries_take_their_budget_and_backoff_from_the_envelope(
    rt: Runtime, tasks: SimpleNamespace, dynamodb_calls: Counter[str]
) -> None:
    start = rt.clock.now()
    tasks.warm.delay("twice", 2)

    rt.drain()

    assert tasks.runs == [("twice", 1), ("twice", 2), ("twice", 3)]
    assert rt.clock.now() - start >= 5 + 10  # backoff 5 s then 10 s, from the attempt in the envelope
    assert rt.dead_letters() == []
    assert rt.queued() == 0
    assert writes(dynamodb_calls) == 0


def test_a_task_that_fails_for_good_is_dead_lettered_with_its_reason_and_no_record(
    rt: Runtime, tasks: SimpleNamespace, dynamodb_calls: Counter[str]
) -> None:
    result = tasks.warm.delay("always", 99)

    rt.drain()

    assert [attempt for _, attempt in tasks.runs] == [1, 2, 3, 4]  # max_retries=3
    (letter,) = rt.dead_letters()
    assert json.loads(letter.body)["id"] == result.id
    assert letter.attributes[REASON_ATTRIBUTE] == (
        "ConnectionError: always failed on attempt 4 (retries exhausted after 4 attempts)"
    )
    assert rt.app.store.get(result.id) is None
    assert writes(dynamodb_calls) == 0


def test_a_retry_with_its_own_budget_is_kept_by_the_next_attempt(rt: Runtime, tasks: SimpleNamespace) -> None:
    tasks.asks.delay("asks")

    rt.drain()

    assert tasks.runs == [("asks", 1), ("asks", 2)]
    (letter,) = rt.dead_letters()
    assert "max_retries=1" in letter.attributes[REASON_ATTRIBUTE]


def test_a_handle_on_an_untracked_task_says_it_is_untracked(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.ping.delay("x")
    rt.drain()

    for read in (lambda: result.state, lambda: result.get(timeout=0), result.ready, lambda: result.result):
        with pytest.raises(TaskUntracked, match=r"untracked \(track=False\).*declare the task with track=True"):
            read()
    assert rt.app.AsyncResult(tasks.tracked.delay("y").id).untracked is None


def test_an_untracked_task_cannot_be_a_workflow_step(rt: Runtime, tasks: SimpleNamespace) -> None:
    with pytest.raises(InvalidArguments, match=r"untracked .*workflow needs each step's record"):
        chain(tasks.ping.si("a"), tasks.tracked.si("b")).apply_async()
    with pytest.raises(InvalidArguments, match="untracked"):
        tasks.ping.apply_async(("a",), link=tasks.tracked.si("b"))
    assert rt.queued() == 0


def test_a_redriven_untracked_task_gets_a_fresh_attempt_budget(rt: Runtime, tasks: SimpleNamespace) -> None:
    tasks.warm.delay("again", 4)  # fails four times: dead-lettered after its fourth attempt
    rt.drain()
    assert len(rt.dead_letters()) == 1

    report = dlq.redrive(rt.app)
    rt.drain()

    assert len(report.moved) == 1, report
    assert [attempt for _, attempt in tasks.runs] == [1, 2, 3, 4, 1]  # its fifth run succeeds, as attempt 1
    assert rt.dead_letters() == []
    assert rt.queued() == 0
