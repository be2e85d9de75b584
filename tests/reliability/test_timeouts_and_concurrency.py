"""Timeouts, concurrent deliveries, redrive loops and enqueue outcomes, with the worker really dying.

A body "dies" by raising a :class:`~tests.reliability.faults.Death` (a BaseException nothing in the worker
catches): the invocation fails as a whole, as one Lambda stops at its timeout or crashes.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from tests.reliability.conftest import Ledger
from tests.reliability.faults import Timeout

from squall import EnqueueError, Squall, State, TaskContext, clock
from squall.handler import make_handler
from squall.limits import LEASE_SLACK_SECONDS
from squall.local import Runtime
from squall.local.esm import FakeLambdaContext
from squall.ops import dlq

TIMEOUT = 60  # the local runtime's default worker timeout, in seconds


@pytest.fixture
def tasks(app: Squall, ledger: Ledger) -> SimpleNamespace:
    runs: list[tuple[str, int]] = []
    current: dict[str, Any] = {}

    @app.task(bind=True, name="t.slow", max_retries=3)
    def slow(task: TaskContext, killed_attempts: int) -> int:
        runs.append((task.request.id, task.request.attempt))
        if task.request.attempt <= killed_attempts:
            clock.sleep(TIMEOUT + LEASE_SLACK_SECONDS + 1)  # still running when Lambda's timeout strikes
            raise Timeout("Task timed out after 60.00 seconds")
        ledger.apply(task.request.id)
        return task.request.attempt

    @app.task(bind=True, name="t.watched")
    def watched(task: TaskContext) -> str:
        runs.append((task.request.id, task.request.attempt))
        if len(runs) == 1:  # meanwhile, another invocation receives the same record
            (record,) = [r for r in current["event"]["Records"] if json.loads(r["body"])["id"] == task.request.id]
            context = FakeLambdaContext("elsewhere", TIMEOUT, 256, "us-east-1")
            current["elsewhere"] = make_handler(app)({"Records": [record]}, context)
            current["record"] = record
        ledger.apply(task.request.id)
        return "done"

    @app.task(name="t.poison", max_retries=1, retry_backoff=1)
    def poison() -> None:
        runs.append(("poison", 0))
        raise ValueError("this input can never be processed")

    @app.task(name="t.add")
    def add(a: int, b: int) -> int:
        return a + b

    @app.task(bind=True, name="t.pay")
    def pay(task: TaskContext) -> None:
        runs.append((task.request.id, task.request.attempt))
        ledger.apply(task.request.id)

    return SimpleNamespace(slow=slow, watched=watched, poison=poison, add=add, pay=pay, runs=runs, current=current)


@pytest.fixture
def watched_events(rt: Runtime, tasks: SimpleNamespace) -> None:
    """Expose each invocation's event to the task bodies (the 'watched' task reads it)."""
    for mapping in rt.mappings:
        inner = mapping.handler

        def handler(event: dict[str, Any], context: Any, inner: Any = inner) -> Any:
            tasks.current["event"] = event
            return inner(event, context)

        mapping.handler = handler


# --- a task killed mid-run -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("deaths_fail_the_invocation")
def test_task_killed_by_the_timeout_is_not_left_started_and_runs_again(
    rt: Runtime, tasks: SimpleNamespace, app: Squall
) -> None:
    # Given a task whose first attempt runs past the function timeout
    seen: list[State] = []
    rt.on_transition(lambda task_id, state, when: seen.append(state))
    result = tasks.slow.delay(1)

    # When Lambda stops that invocation
    rt.poll()

    # Then the whole batch failed, and the task is STARTED with a claim that lapses just after the deadline
    assert rt.invocations[-1].timed_out
    record = result.record
    assert record is not None
    assert record.state is State.STARTED
    assert record.lease_until is not None
    rt.advance(LEASE_SLACK_SECONDS + 1)
    assert record.lease_until < rt.clock.now()

    # And when SQS makes the message visible again, the next delivery retakes the claim and runs it
    assert rt.poll() == 0  # still hidden for the visibility timeout
    rt.drain()
    assert result.get(timeout=0) == 2
    assert tasks.runs == [(result.id, 1), (result.id, 2)]
    assert seen == [State.STARTED, State.STARTED, State.SUCCESS]
    assert rt.queued() == 0


@pytest.mark.usefixtures("deaths_fail_the_invocation")
def test_task_killed_on_every_attempt_dies_once_its_attempts_are_spent(
    rt: Runtime, tasks: SimpleNamespace, ledger: Ledger
) -> None:
    result = tasks.slow.delay(99)

    rt.drain()

    assert result.state is State.DEAD
    assert result.record is not None
    assert result.record.error is not None
    assert result.record.error.type == "AttemptsExhausted"
    assert len(tasks.runs) == 4  # max_retries=3: four attempts ran; the fifth delivery dead-letters it
    assert len(rt.dead_letters()) == 1
    assert rt.queued() == 0
    assert ledger.applied() == set()


# --- two deliveries at once ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("watched_events")
def test_two_deliveries_of_one_task_at_once_never_both_run_the_body(
    rt: Runtime, tasks: SimpleNamespace, ledger: Ledger
) -> None:
    # Given a task whose record a second invocation receives while the first is running it
    result = tasks.watched.delay()

    # When both have finished, and SQS has redelivered whatever they kept
    rt.drain()

    # Then the second one did not run it: it put its copy back (BUSY) as a batch item failure
    current = tasks.current
    assert current["elsewhere"] == {"batchItemFailures": [{"itemIdentifier": current["record"]["messageId"]}]}
    assert tasks.runs == [(result.id, 1)]
    assert ledger.applied() == {result.id}
    assert ledger.refused == []
    assert result.get(timeout=0) == "done"
    assert rt.queued() == 0


# --- redriving a poison task -------------------------------------------------------------------------------


def test_redriven_poison_task_dies_again_without_looping(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given a poison task, dead after its two attempts
    result = tasks.poison.delay()
    rt.drain()
    assert result.state is State.DEAD
    assert len(tasks.runs) == 2

    # When it is redriven, and the worker drains the queue
    report = dlq.redrive(rt.app, max_redrives=1)
    invocations = len(rt.invocations)
    rt.drain()

    # Then it ran its two attempts once more and is DEAD again, back in the DLQ, not on the queue
    assert [letter.task_id for letter in report.moved] == [result.id]
    assert result.state is State.DEAD
    assert len(tasks.runs) == 4
    assert len(rt.invocations) - invocations == 2
    assert [m.attributes.get("squall.task_id") for m in rt.dead_letters()] == [result.id]
    assert rt.queued() == 0

    # And a further redrive is refused: the loop ends with the operator
    assert dlq.redrive(rt.app, max_redrives=1).moved == []
    assert rt.drain() == 0


# --- what an enqueue call says -------------------------------------------------------------------------------


def test_enqueue_that_returned_has_put_every_task_on_the_queue(rt: Runtime, tasks: SimpleNamespace) -> None:
    results = rt.app.send_batch([tasks.add.s(i, i) for i in range(25)], task_ids=[f"sum-{i}" for i in range(25)])

    assert rt.queued() == 25
    rt.drain()
    assert [r.get(timeout=0) for r in results] == [2 * i for i in range(25)]


def test_enqueue_that_timed_out_after_sqs_took_it_names_the_tasks_and_a_resend_runs_them_once(
    rt: Runtime, tasks: SimpleNamespace, ledger: Ledger
) -> None:
    # Given SQS accepts a batch but the caller's connection times out before the answer arrives
    def lost_answer(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://sqs.us-east-1.amazonaws.com/")

    rt.app.sqs.meta.events.register("after-call.sqs.SendMessageBatch", lost_answer)
    ids = ["pay-1", "pay-2", "pay-3"]

    # When the caller sends, is told which tasks may not have gone, and sends those again with the same ids
    with pytest.raises(EnqueueError) as raised:
        rt.app.send_batch([tasks.pay.s() for _ in ids], task_ids=ids)
    rt.app.sqs.meta.events.unregister("after-call.sqs.SendMessageBatch", lost_answer)
    assert set(raised.value.failed) == set(ids)
    assert all("may have been sent" in why for why in raised.value.failed.values())
    assert raised.value.sent == ()
    rt.app.send_batch([tasks.pay.s() for _ in ids], task_ids=list(raised.value.failed))

    # Then each task ran once, though each was on the queue twice
    assert rt.queued() == 6
    rt.drain()
    assert ledger.applied() == set(ids)
    assert ledger.refused == []
    assert sorted(tasks.runs) == [(task_id, 1) for task_id in ids]


def test_send_batch_refuses_task_ids_that_do_not_pair_with_the_calls(tasks: SimpleNamespace, app: Squall) -> None:
    with pytest.raises(ValueError, match="2 ids for 3 signatures"):
        app.send_batch([tasks.add.s(1, 1)] * 3, task_ids=["a", "b"])
