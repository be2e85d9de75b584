"""At-least-once delivery: a duplicate of a finished task is acknowledged, a concurrent one is not run twice."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from squall import Squall, State, TaskContext
from squall.limits import DEFAULT_RESULT_TTL_SECONDS
from squall.local import Runtime
from squall.state.schema import task_key

LEASE = 100.0


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    runs: list[tuple[str, int]] = []

    @app.task(bind=True)
    def record(task: TaskContext, value: str) -> str:
        runs.append((task.request.id, task.request.attempt))
        return value

    return SimpleNamespace(runs=runs, record=record)


def claim_elsewhere(rt: Runtime, task_id: str, name: str) -> Any:
    """Claim ``task_id`` as another live attempt would, holding a lease of LEASE seconds."""
    return rt.app.store.claim(
        task_id,
        name=name,
        queue="default",
        created=rt.clock.now(),
        eta=None,
        max_retries=3,
        lease_seconds=LEASE,
        ttl_seconds=DEFAULT_RESULT_TTL_SECONDS,
    )


def test_redelivered_finished_task_is_acknowledged_without_running_again(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given a task that ran and succeeded
    first = tasks.record.apply_async(("once",), task_id="order-1")
    rt.drain()

    # When SQS delivers the same task again (the producer resent it, or at-least-once delivery)
    tasks.record.apply_async(("once",), task_id="order-1")
    rt.drain()

    # Then the body ran once, the duplicate was deleted, and the record is untouched
    assert tasks.runs == [("order-1", 1)]
    assert rt.queued() == 0
    assert rt.dead_letters() == []
    assert first.get(timeout=0) == "once"
    record = rt.app.AsyncResult("order-1").record
    assert record is not None
    assert record.attempt == 1


def test_redelivered_dead_task_is_acknowledged_without_running_again(rt: Runtime, app: Squall) -> None:
    runs: list[int] = []

    @app.task(max_retries=0)
    def fails() -> None:
        runs.append(1)
        raise ValueError("no")

    fails.apply_async(task_id="dead-1")
    rt.drain()
    fails.apply_async(task_id="dead-1")
    rt.drain()

    assert runs == [1]
    # the task's letter was noted sent, so the redelivered copy is acknowledged without a second one
    assert [m.attributes["squall.task_id"] for m in rt.dead_letters()] == ["dead-1"]


def test_same_task_twice_in_one_batch_runs_once(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given two copies of one task on the queue
    tasks.record.apply_async(("twice",), task_id="order-2")
    tasks.record.apply_async(("twice",), task_id="order-2")

    # When one batch carries both
    assert rt.poll() == 2

    # Then the body ran once and both copies are gone
    assert tasks.runs == [("order-2", 1)]
    assert rt.invocations[-1].kept == set()
    assert rt.queued() == 0


def test_task_claimed_by_a_live_attempt_is_not_run_twice(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given another attempt holds a live claim on the task
    claim = claim_elsewhere(rt, "order-3", tasks.record.name)
    assert claim.outcome == "claimed"
    claimed_at = rt.clock.now()

    # When a copy of the task is delivered
    tasks.record.apply_async(("busy",), task_id="order-3")
    assert rt.poll() == 1

    # Then it does not run; its message stays, hidden until just after the other claim lapses
    assert tasks.runs == []
    assert rt.invocations[-1].kept == set(rt.invocations[-1].message_ids)
    assert rt.queued() == 1
    assert rt.next_wakeup() == pytest.approx(claimed_at + LEASE + 1, abs=1)
    assert rt.app.AsyncResult("order-3").state is State.STARTED


def test_delivery_after_the_other_claim_lapses_runs_it_as_the_next_attempt(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given a copy kept back because another attempt held the task
    claim_elsewhere(rt, "order-4", tasks.record.name)
    tasks.record.apply_async(("late",), task_id="order-4")
    rt.poll()

    # When that attempt's lease lapses without it finishing (it crashed) and the copy comes back
    rt.drain()

    # Then the copy runs, as attempt 2
    assert tasks.runs == [("order-4", 2)]
    assert rt.app.AsyncResult("order-4").get(timeout=0) == "late"


def test_attempt_whose_claim_was_taken_over_does_not_record_its_outcome(rt: Runtime, app: Squall) -> None:
    # Given a task whose first attempt's lease lapses while it runs (another worker's clock runs ahead: the
    # function timeout would stop this one first on a true clock), and meanwhile a second attempt claims it
    takeovers: list[Any] = []

    @app.task(bind=True)
    def slow(task: TaskContext) -> str:
        if task.request.attempt == 1:
            rt.app.dynamodb.update_item(
                TableName=rt.settings.table,
                Key=task_key(task.request.id),
                UpdateExpression="SET lease_until = :past",
                ExpressionAttributeValues={":past": {"N": str(rt.clock.now() - 1)}},
            )
            takeovers.append(claim_elsewhere(rt, task.request.id, task.request.task))
        return f"attempt {task.request.attempt}"

    slow.apply_async(task_id="slow-1")

    # When the first attempt returns
    rt.poll()

    # Then its write is refused: the task belongs to attempt 2, and the stale copy is dropped
    assert [c.outcome for c in takeovers] == ["claimed"]
    record = rt.app.AsyncResult("slow-1").record
    assert record is not None
    assert record.state is State.STARTED
    assert record.attempt == 2
    assert record.result_json is None
    assert rt.queued() == 0
