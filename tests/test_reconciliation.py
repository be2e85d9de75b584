"""DLQ ⇔ DEAD by every path: what the redrive policy moves is reconciled, and the worker keeps the rest.

The redrive policy (maxReceiveCount = 10, into the intake queue) only fires when the worker never acted on a
message: throttled batches, invocations that die before reaching a record. The reconciler records each such
task DEAD with a reason and moves the message on to its DLQ. Where the worker does act, it never lets the
receive count run out (a fresh copy on the last receive) and never lets a deadline starve a batch.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from squall import Squall, State, WorkerSizing, clock, local
from squall.limits import MAX_RECEIVE_COUNT
from squall.local import Runtime
from squall.ops import dlq
from squall.worker.deadletters import REASON_ATTRIBUTE, TASK_ID_ATTRIBUTE
from squall.worker.execution import Delivery, Executor, Outcome


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    ran: list[str] = []

    @app.task(name="work")
    def work(label: str) -> str:
        ran.append(label)
        return label

    @app.task(name="slow", max_retries=1)
    def slow(label: str) -> str:
        clock.sleep(50)  # most of the worker's 60 s timeout
        ran.append(label)
        return label

    return SimpleNamespace(work=work, slow=slow, ran=ran)


def test_a_message_throttled_past_its_receive_count_is_dead_with_a_reason_in_its_dlq(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    # Given a task whose batches Lambda throttles on every receive the redrive policy allows
    result = tasks.work.delay("t-1")
    rt.throttle(invocations=MAX_RECEIVE_COUNT)
    sent = clock.now()

    # When the worker keeps polling
    rt.drain()

    # Then SQS moved it, and the reconciler recorded it DEAD with a reason and put it in the DLQ
    assert tasks.ran == []
    record = result.record
    assert record is not None
    assert record.state is State.DEAD
    assert record.reason is not None
    assert "moved by SQS's redrive policy after 10 receives" in record.reason
    [letter] = dlq.peek(rt.app)
    assert (letter.task_id, letter.reason) == (result.id, record.reason)
    assert rt.queued() == 0
    # within one visibility timeout of the last receive (10 receives, 9 waits, then the move)
    visibility = rt.topology.queue("default").visibility_timeout
    assert record.finished_at is not None
    assert record.finished_at - sent <= MAX_RECEIVE_COUNT * visibility + 1


def test_a_reconciled_task_is_redriven_and_runs(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.work.delay("t-2")
    rt.throttle(invocations=MAX_RECEIVE_COUNT)
    rt.drain()
    assert result.state is State.DEAD

    report = dlq.redrive(rt.app)
    rt.drain()

    assert len(report.moved) == 1
    assert result.get(timeout=0) == "t-2"


def test_invocations_that_die_before_any_record_leave_every_task_dead_with_a_reason(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    # Given a worker that fails at start-up on every invocation (a broken deploy, an import error)
    results = [tasks.work.delay(f"t-{i}") for i in range(3)]
    broken = [0]

    def dies_at_start(event: dict[str, Any], context: Any) -> Any:
        broken[0] += 1
        raise ImportError("the worker's code cannot be imported")

    healthy = rt.mappings[0].handler
    rt.mappings[0].handler = dies_at_start
    try:
        rt.drain()
    finally:
        rt.mappings[0].handler = healthy

    # Then nothing is silent: each task is DEAD with the reason, its message in the DLQ
    assert broken[0] >= MAX_RECEIVE_COUNT
    assert all(r.state is State.DEAD for r in results)
    letters = rt.dead_letters()
    assert sorted(m.attributes[TASK_ID_ATTRIBUTE] for m in letters) == sorted(r.id for r in results)
    assert all("moved by SQS's redrive policy" in m.attributes[REASON_ATTRIBUTE] for m in letters)


def test_a_moved_copy_of_a_finished_task_is_acknowledged_not_dead_lettered(
    rt: Runtime, tasks: SimpleNamespace, envelope_body: Any
) -> None:
    # Given a task that ran, and a leftover copy of its message that SQS then moves to the intake queue
    result = tasks.work.delay("t-3")
    rt.drain()
    assert result.state is State.SUCCESS
    copy = envelope_body("work", id=result.id, args=["t-3"])
    rt.app.sqs.send_message(
        QueueUrl=rt.settings.intake_url,
        MessageBody=copy,
    )

    rt.drain()

    # Then it is dropped as a spare copy: the task stays SUCCESS and the DLQ empty
    assert result.state is State.SUCCESS
    assert rt.dead_letters() == []
    assert tasks.ran == ["t-3"]


def test_ten_tasks_that_take_most_of_the_timeout_all_succeed_without_starving_the_batch(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    # Given the defaults (60 s timeout, batches of 10) and ten tasks of 50 s each
    results = [tasks.slow.delay(f"s-{i}") for i in range(10)]

    # When the worker drains them
    rt.drain()

    # Then every one ran once and succeeded: a record that cannot finish in time is handed back unstarted
    assert sorted(tasks.ran) == sorted(f"s-{i}" for i in range(10))
    assert all(r.state is State.SUCCESS for r in results)
    assert all(r.record is not None and r.record.attempt == 1 for r in results)
    assert rt.dead_letters() == []
    assert not any(invocation.timed_out for invocation in rt.invocations)


def test_a_declared_expected_duration_defers_a_record_before_it_ever_runs(app: Squall) -> None:
    ran: list[float] = []

    @app.task(expected_duration=30)
    def half_minute() -> None:
        ran.append(clock.now())
        clock.sleep(30)

    with local.run(app) as rt:
        results = [half_minute.delay() for _ in range(4)]
        rt.drain()

        assert len(ran) == 4
        assert all(r.state is State.SUCCESS for r in results)
        assert not any(invocation.timed_out for invocation in rt.invocations)


def test_a_task_declared_longer_than_the_worker_can_ever_run_is_dead_with_a_reason(app: Squall) -> None:
    @app.task(expected_duration=300)
    def too_long() -> None: ...

    # The worker deployed with a shorter timeout than the declaration allows (the stack would refuse it)
    with local.run(app, sizing=WorkerSizing(timeout=400)) as rt:
        rt.mappings[0].timeout = 60
        result = too_long.delay()
        rt.drain()

        assert result.state is State.DEAD
        assert result.record is not None
        assert "can never fit in this worker's 60 s invocations" in (result.record.reason or "")


def test_a_message_on_its_last_receive_is_sent_again_fresh_instead_of_run(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given a delivery on the last receive the redrive policy allows
    result = tasks.work.delay("t-4")
    [message] = rt.app.sqs.receive_message(
        QueueUrl=rt.settings.queue("default").url, MessageSystemAttributeNames=["All"]
    )["Messages"]
    delivery = Delivery(
        message_id=message["MessageId"],
        receipt_handle=message["ReceiptHandle"],
        body=message["Body"],
        queue_arn=rt.settings.queue("default").arn,
        receive_count=MAX_RECEIVE_COUNT,
    )

    # When the worker gets it
    outcome = Executor(rt.app).process(delivery, 60.0)

    # Then it is not run (no attempt spent), a fresh copy is on the queue, and that copy runs
    assert outcome is Outcome.RESENT
    assert result.record is None
    rt.app.sqs.delete_message(QueueUrl=rt.settings.queue("default").url, ReceiptHandle=message["ReceiptHandle"])
    rt.drain()
    assert result.get(timeout=0) == "t-4"
    assert result.record is not None
    assert result.record.attempt == 1


def test_a_message_due_after_its_queues_retention_waits_as_a_fresh_copy_and_runs_when_due(
    rt: Runtime, tasks: SimpleNamespace, send_raw: Any, envelope_body: Any
) -> None:
    # Given a foreign producer's message due in 20 days: longer than SQS can hide it, and than its retention
    due = rt.clock.now() + 20 * 86_400
    send_raw(envelope_body("work", id="later-1", args=["t-5"], eta=due))

    # When the worker sees it and time passes
    rt.drain()

    # Then it ran when due, once, and never reached the redrive policy or the DLQ
    assert tasks.ran == ["t-5"]
    record = rt.app.AsyncResult("later-1").record
    assert record is not None
    assert record.state is State.SUCCESS
    assert record.started_at is not None
    assert record.started_at >= due - 60
    assert rt.dead_letters() == []
