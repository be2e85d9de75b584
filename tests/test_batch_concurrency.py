"""Queue(batch_concurrency=N): a batch's records run at once, with the same outcomes as one after another."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from squall import Queue, Squall, State, TaskContext, clock
from squall.errors import TaskDefinitionError
from squall.handler import batch_concurrency, make_handler
from squall.limits import DEFAULT_RESULT_TTL_SECONDS, MAX_BATCH_CONCURRENCY
from squall.local import Runtime
from squall.local.esm import FakeLambdaContext, to_event_record
from squall.sending.producer import prepare as encode

WIDE = 4  # the concurrent queue's batch_concurrency

#: Kinds of record in a mixed batch: run, retried, failed, malformed, busy elsewhere, already done, unwritable.
MIXED = ["ok", "retry", "flaky", "poison", "malformed", "busy", "finished", "fault", "ok", "ok"]


class Poison(Exception):
    """An error that is never retried."""


@pytest.fixture
def app() -> Squall:
    return Squall(f"test-{uuid.uuid4().hex[:8]}", queues=["default", Queue("wide", batch_concurrency=WIDE)])


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    meeting = threading.Barrier(WIDE, timeout=10)  # passes only when WIDE records run at the same time
    before, after = threading.Barrier(WIDE, timeout=10), threading.Barrier(WIDE, timeout=10)
    advancing = threading.Lock()
    started: list[str] = []
    threads: list[str] = []
    arrived: list[int] = []
    everyone = asyncio.Event()

    @app.task(bind=True, dont_autoretry_for=(Poison,))
    def work(task: TaskContext, kind: str) -> str:
        threads.append(threading.current_thread().name)
        if kind == "poison":
            raise Poison("never works")
        if kind == "retry" and task.request.attempt == 1:
            raise task.retry(countdown=60)
        if kind == "flaky" and task.request.attempt == 1:
            raise ConnectionError("try again")
        if kind == "meet":
            meeting.wait()
        return kind

    @app.task
    async def gather(index: int) -> int:
        arrived.append(index)
        if len(arrived) == WIDE:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), timeout=10)  # only WIDE coroutines awaiting together get past
        return index

    @app.task(expected_duration=1)
    def slow(seconds: float) -> None:
        before.wait()  # every thread runs a slow record, so no other record of the batch has started
        fake = clock.current()
        assert isinstance(fake, clock.FakeClock)
        with advancing:
            fake.advance(seconds)
        after.wait()  # all have spent their time before any ends: the next records start after that

    @app.task(expected_duration=30)
    def long(label: str) -> str:
        started.append(label)
        return label

    return SimpleNamespace(work=work, gather=gather, slow=slow, long=long, started=started, threads=threads)


@pytest.fixture
def faults(rt: Runtime) -> Iterator[set[str]]:
    """Task ids whose DynamoDB writes fail, as an unreachable table would."""
    failing: set[str] = set()

    def inject(params: dict[str, Any], **_: Any) -> None:
        body = (params.get("body") or b"").decode()
        if any(f'"task#{task_id}"' in body for task_id in failing):
            raise ConnectionError("DynamoDB unreachable")

    rt.app.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", inject)
    yield failing
    rt.app.dynamodb.meta.events.unregister("before-call.dynamodb.UpdateItem", inject)


def prepare(rt: Runtime, tasks: SimpleNamespace, faults: set[str], kind: str, queue: str) -> tuple[str, str]:
    """Put the task of one record of ``kind`` in place; its task id and message body."""
    task_id = f"{kind}-{uuid.uuid4().hex[:12]}"
    if kind == "malformed":
        return task_id, "{not json"
    if kind in ("busy", "finished"):
        claim = rt.app.store.claim(
            task_id,
            name=tasks.work.name,
            queue=queue,
            created=rt.clock.now(),
            eta=None,
            max_retries=3,
            lease_seconds=600,
            ttl_seconds=DEFAULT_RESULT_TTL_SECONDS,
        )
        if kind == "finished":
            rt.app.store.finish(task_id, claim.token, result_json='"finished"', progress=None, ttl_seconds=3600)
    if kind == "fault":
        faults.add(task_id)
    return task_id, encode(tasks.work.s(kind), task_id=task_id, queue=queue, countdown=None, eta=None).body


def run_batch(rt: Runtime, queue: str, bodies: list[str], timeout: float = 60) -> tuple[dict[str, str], list[str]]:
    """Send ``bodies`` to ``queue``, receive them in one batch and run it through the real handler once.

    Returns each body's message id, and the ids the response reports (kept on the queue), in its order.
    """
    address = rt.settings.queue(queue)
    entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)]
    rt.app.sqs.send_message_batch(QueueUrl=address.url, Entries=entries)  # type: ignore[arg-type]
    received = rt.app.sqs.receive_message(
        QueueUrl=address.url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert len(received) == len(bodies)
    received.sort(key=lambda message: bodies.index(message["Body"]))  # the batch in the order sent
    event = {"Records": [to_event_record(m, address.arn, rt.settings.region) for m in received]}
    response = make_handler(rt.app)(event, FakeLambdaContext("worker", timeout, 256, rt.settings.region))
    return {m["Body"]: m["MessageId"] for m in received}, [f["itemIdentifier"] for f in response["batchItemFailures"]]


def outcome_of(rt: Runtime, task_id: str) -> tuple[State | None, str | None]:
    record = rt.app.store.get(task_id)
    return (None, None) if record is None else (record.state, record.result_json)


def test_a_mixed_batch_ends_as_it_does_one_record_after_another(
    rt: Runtime, tasks: SimpleNamespace, faults: set[str]
) -> None:
    ends = {}
    for queue in ("default", "wide"):
        # Given the same mixed batch on a sequential queue and on a concurrent one
        prepared = [prepare(rt, tasks, faults, kind, queue) for kind in MIXED]

        # When the real handler runs each
        ids, kept = run_batch(rt, queue, [body for _task_id, body in prepared])

        # (what became of each kind of record: kept on the queue or not, its state and result)
        ends[queue] = sorted(
            (kind, ids[body] in kept, *outcome_of(rt, task_id))
            for (task_id, body), kind in zip(prepared, MIXED, strict=True)
        )
        kind_of = {ids[body]: kind for (_task_id, body), kind in zip(prepared, MIXED, strict=True)}
        ends[f"{queue} order"] = [(kind_of[message_id], True, None, None) for message_id in kept]
        faults.clear()

    # Then every record ends the same way, and the response lists the kept ones in the same order
    assert ends["wide"] == ends["default"]
    assert ends["wide order"] == ends["default order"]
    assert [kind for kind, is_kept, _state, _result in ends["wide"] if is_kept] == ["busy", "fault"]


def test_records_of_a_concurrent_batch_run_at_the_same_time(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given WIDE records that each wait until WIDE of them are running (a barrier that breaks after 10 s)
    prepared = [prepare(rt, tasks, set(), "meet", "wide") for _ in range(WIDE)]

    # When their batch runs on the queue with batch_concurrency=WIDE
    _ids, kept = run_batch(rt, "wide", [body for _task_id, body in prepared])

    # Then all met, and each succeeded, in threads of the worker's pool
    assert kept == []
    assert [outcome_of(rt, task_id) for task_id, _body in prepared] == [(State.SUCCESS, '"meet"')] * WIDE
    assert all(name.startswith("squall-record") for name in tasks.threads)


def test_async_records_of_a_concurrent_batch_share_the_event_loop(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given WIDE async records that each wait until WIDE of them are awaiting together
    bodies = [
        encode(tasks.gather.s(index), task_id=None, queue="wide", countdown=None, eta=None) for index in range(WIDE)
    ]

    # When their batch runs on the concurrent queue
    _ids, kept = run_batch(rt, "wide", [message.body for message in bodies])

    # Then all got past, each with its own result
    assert kept == []
    assert sorted(outcome_of(rt, message.envelope.id) for message in bodies) == [
        (State.SUCCESS, str(index)) for index in range(WIDE)
    ]


def test_after_a_concurrent_batch_an_async_task_still_runs_on_a_sequential_queue(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    # Given a concurrent batch of async records has run (the loop served them from its own thread)
    first = [
        encode(tasks.gather.s(index), task_id=None, queue="wide", countdown=None, eta=None) for index in range(WIDE)
    ]
    run_batch(rt, "wide", [message.body for message in first])

    # When an async record runs on the sequential queue
    again = encode(tasks.gather.s(7), task_id=None, queue="default", countdown=None, eta=None)
    _ids, kept = run_batch(rt, "default", [again.body])

    # Then it runs on the same loop, the ordinary way, and succeeds
    assert kept == []
    assert outcome_of(rt, again.envelope.id) == (State.SUCCESS, "7")


def test_records_that_cannot_finish_in_time_are_kept_and_not_started(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given a batch whose first WIDE records together spend 50 s of a 60 s invocation, then records of 30 s each
    slow = [encode(tasks.slow.s(50 / WIDE), task_id=None, queue="wide", countdown=None, eta=None) for _ in range(WIDE)]
    long = [encode(tasks.long.s(f"l{i}"), task_id=None, queue="wide", countdown=None, eta=None) for i in range(3)]

    # When the batch runs in one invocation, WIDE records at once
    ids, kept = run_batch(rt, "wide", [message.body for message in [*slow, *long]], timeout=60)

    # Then the slow records succeeded, and the long ones, left with 10 s when a thread was free, were kept unstarted
    assert [outcome_of(rt, message.envelope.id)[0] for message in slow] == [State.SUCCESS] * WIDE
    assert kept == [ids[message.body] for message in long]
    assert tasks.started == []
    assert [outcome_of(rt, message.envelope.id) for message in long] == [(None, None)] * len(long)


def test_a_record_whose_writes_fail_fails_alone(rt: Runtime, tasks: SimpleNamespace, faults: set[str]) -> None:
    # Given a concurrent batch in which one record's DynamoDB writes fail (the table unreachable for it)
    prepared = [prepare(rt, tasks, faults, kind, "wide") for kind in ("ok", "fault", "ok", "ok", "ok")]

    # When the batch runs
    ids, kept = run_batch(rt, "wide", [body for _task_id, body in prepared])

    # Then only that record stays on the queue; the others succeeded
    assert kept == [ids[prepared[1][1]]]
    assert [outcome_of(rt, task_id)[0] for task_id, _body in prepared] == [
        State.SUCCESS,
        None,
        State.SUCCESS,
        State.SUCCESS,
        State.SUCCESS,
    ]


def test_a_queue_runs_its_records_one_after_another_by_default(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given a batch on a queue that sets no batch_concurrency
    prepared = [prepare(rt, tasks, set(), "ok", "default") for _ in range(3)]

    # When it runs
    _ids, kept = run_batch(rt, "default", [body for _task_id, body in prepared])

    # Then every record ran in the handler's own thread
    assert Queue("plain").batch_concurrency == 1
    assert kept == []
    assert tasks.threads == [threading.current_thread().name] * 3


@pytest.mark.parametrize("value", [0, -1, MAX_BATCH_CONCURRENCY + 1])
def test_batch_concurrency_out_of_range_is_refused(value: int) -> None:
    with pytest.raises(TaskDefinitionError, match="batch_concurrency"):
        Queue("q", batch_concurrency=value)


def test_a_fifo_queue_refuses_batch_concurrency() -> None:
    with pytest.raises(TaskDefinitionError, match="FIFO queue runs its records in order"):
        Queue("q", fifo=True, batch_concurrency=2)


def test_records_of_a_fifo_queue_run_one_after_another_whatever_the_queue_says() -> None:
    # Given a worker whose queue asks for 4 records at once, reached once through a standard and once a FIFO ARN
    app = SimpleNamespace(
        settings=SimpleNamespace(queue_name_for_arn=lambda arn: "wide"),
        queues={"wide": Queue("wide", batch_concurrency=WIDE)},
    )
    of = batch_concurrency(app)  # type: ignore[arg-type]
    arn = "arn:aws:sqs:eu-west-1:123456789012:app-wide"

    # Then a FIFO queue's batch runs one record at a time, a standard queue's WIDE at once
    assert of({"Records": [{"eventSourceARN": f"{arn}.fifo"}] * 2}) == 1
    assert of({"Records": [{"eventSourceARN": arn}] * 2}) == WIDE
