"""The dead-letter queues: looking, redriving (and being interrupted while at it), purging."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from squall import Squall, State, TaskContext
from squall.local import Runtime
from squall.ops import dlq
from squall.state.schema import task_key
from squall.wire.envelope import Envelope


class Crash(Exception):
    """Stands for the process dying at this point: nothing after it runs."""


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    runs: Counter[str] = Counter()
    fixed = {"yes": False}

    @app.task(name="fragile", max_retries=1, retry_backoff=1)
    def fragile(n: int) -> int:
        runs[f"fragile-{n}"] += 1
        if not fixed["yes"]:
            raise ValueError(f"not fixed yet ({n})")
        return n

    @app.task(name="slow", bind=True, max_retries=0)
    def slow(task: TaskContext) -> str:
        return "done"

    return SimpleNamespace(fragile=fragile, slow=slow, runs=runs, fixed=fixed)


@pytest.fixture
def dead(rt: Runtime, tasks: SimpleNamespace) -> Callable[[int], str]:
    """Send ``fragile(n)`` and let it exhaust its retries; returns its task id."""

    def make(n: int) -> str:
        result = tasks.fragile.delay(n)
        rt.drain()
        assert result.state is State.DEAD
        return result.id

    return make


def inject(rt: Runtime, operation: str, error: Exception, *, queue_url: str | None = None) -> None:
    """Make the app's next call of ``operation`` (to ``queue_url``, if given) raise ``error``, once."""
    left = [1]

    def fail(params: dict[str, Any], **_: Any) -> None:
        url = json.loads(params.get("body") or b"{}").get("QueueUrl")
        if left and (queue_url is None or url == queue_url):
            left.pop()
            raise error

    client, service = (rt.app.dynamodb, "dynamodb") if operation == "UpdateItem" else (rt.app.sqs, "sqs")
    client.meta.events.register(f"before-call.{service}.{operation}", fail)


def dlq_url(rt: Runtime) -> str:
    return rt.settings.queue("default").dlq_url


def after_visibility(rt: Runtime) -> None:
    """Let messages a crashed redrive had received become visible again."""
    rt.advance(121)


def test_a_dead_task_is_redriven_with_a_fresh_attempt_budget(
    rt: Runtime, tasks: SimpleNamespace, dead: Callable[[int], str]
) -> None:
    task_id = dead(1)
    tasks.fixed["yes"] = True

    report = dlq.redrive(rt.app)

    assert [m.task_id for m in report.moved] == [task_id]
    record = rt.app.store.get(task_id)
    assert record is not None
    assert (record.state, record.attempt, record.redrives) == (State.PENDING, 0, 1)
    assert (record.error, record.reason, record.finished_at) == (None, None, None)
    assert dlq.peek(rt.app) == []
    rt.drain()
    record = rt.app.store.get(task_id)
    assert record is not None
    assert (record.state, record.attempt) == (State.SUCCESS, 1)


def test_the_message_sent_back_carries_the_redrive_count(
    rt: Runtime, tasks: SimpleNamespace, dead: Callable[[int], str], calls: Any
) -> None:
    dead(1)

    dlq.redrive(rt.app)

    [batch] = calls.params("SendMessageBatch")
    [entry] = batch["Entries"]
    assert Envelope.decode(entry["MessageBody"]).redrives == 1
    assert "MessageAttributes" not in entry  # Squall's dead-letter attributes stay behind


def test_a_task_redriven_max_redrives_times_is_refused_and_stays(
    rt: Runtime, tasks: SimpleNamespace, dead: Callable[[int], str]
) -> None:
    task_id = dead(1)
    dlq.redrive(rt.app, max_redrives=1)
    rt.drain()  # dies again

    report = dlq.redrive(rt.app, max_redrives=1)

    assert report.moved == []
    [(letter, why)] = report.refused
    assert letter.task_id == task_id
    assert "redriven 1 times already" in why
    assert [m.task_id for m in dlq.peek(rt.app)] == [task_id]  # visible again, not hidden


def test_the_envelope_count_stops_a_loop_even_when_the_record_expired(
    rt: Runtime, tasks: SimpleNamespace, dead: Callable[[int], str]
) -> None:
    task_id = dead(1)
    dlq.redrive(rt.app, max_redrives=1)
    rt.drain()
    rt.app.dynamodb.delete_item(TableName=rt.settings.table, Key=task_key(task_id))

    report = dlq.redrive(rt.app, max_redrives=1)

    assert [why for _, why in report.refused] == ["redriven 1 times already (--max-redrives 1); fix the task first"]


def test_redrive_by_id_moves_only_those_and_reports_the_missing(
    rt: Runtime, tasks: SimpleNamespace, dead: Callable[[int], str]
) -> None:
    first, second = dead(1), dead(2)

    report = dlq.redrive(rt.app, [second, "no-such-task"])

    assert [m.task_id for m in report.moved] == [second]
    assert report.missing == ["no-such-task"]
    assert [m.task_id for m in dlq.peek(rt.app)] == [first]


def test_a_message_without_a_task_id_is_refused_with_why(rt: Runtime, send_raw: Callable[..., str]) -> None:
    send_raw("this is not JSON")
    rt.drain()

    report = dlq.redrive(rt.app)

    [(letter, why)] = report.refused
    assert letter.task_id is None
    assert why.startswith("malformed, no task id: body is not valid JSON")
    assert len(dlq.peek(rt.app)) == 1


def test_a_message_for_a_task_deployed_later_runs_once_redriven(
    rt: Runtime, send_raw: Callable[..., str], envelope_body: Callable[..., str]
) -> None:
    body = envelope_body("later", args=[2])
    task_id = json.loads(body)["id"]
    send_raw(body)
    rt.drain()
    assert rt.app.AsyncResult(task_id).state is State.DEAD

    @rt.app.task(name="later")
    def later(n: int) -> int:
        return n * 10

    dlq.redrive(rt.app)
    rt.drain()

    assert rt.app.AsyncResult(task_id).get(timeout=0) == 20


def test_an_envelope_the_worker_cannot_read_is_redriven_as_it_was(
    rt: Runtime, send_raw: Callable[..., str], envelope_body: Callable[..., str], calls: Any
) -> None:
    body = envelope_body("fragile", v=3)
    send_raw(body)
    rt.drain()

    report = dlq.redrive(rt.app)

    assert [m.task_id for m in report.moved] == [json.loads(body)["id"]]
    assert calls.params("SendMessageBatch")[-1]["Entries"][0]["MessageBody"] == body


def test_a_message_the_redrive_policy_moved_is_reconciled_shown_with_its_reason_and_redriven(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    # A worker that crashed on every delivery: the task is STARTED, its lease lapsed, and SQS moved the
    # message to the intake queue after maxReceiveCount receives, with none of Squall's attributes.
    tasks.fixed["yes"] = True
    result = tasks.fragile.delay(5)
    sqs, source = rt.session.client("sqs", region_name=rt.settings.region), rt.settings.queue("default")
    envelope = Envelope.decode(sqs.receive_message(QueueUrl=source.url, VisibilityTimeout=0)["Messages"][0]["Body"])
    claim = {"name": "fragile", "queue": "default", "created": 0, "eta": None, "max_retries": 1}
    rt.app.store.claim(envelope.id, **claim, lease_seconds=1, ttl_seconds=3600)
    for _ in range(source.max_receive_count + 1):
        rt.advance(2)
        sqs.receive_message(QueueUrl=source.url, VisibilityTimeout=0)
    assert rt.dead_letters() == []

    # When the reconciler runs
    assert rt.intake is not None
    rt.intake.poll()

    # Then the task is DEAD with the reason, which the DLQ message carries and the listing shows
    [letter] = dlq.peek(rt.app)
    record = rt.app.store.get(result.id)
    assert record is not None
    assert record.state is State.DEAD
    assert not letter.moved_by_policy
    status = dlq.status(letter, record, source.max_receive_count)
    assert status == record.reason
    assert status.startswith(f"moved by SQS's redrive policy after {source.max_receive_count} receives")
    assert status.endswith("the task was STARTED, attempt 1")
    dlq.redrive(rt.app)
    rt.drain()
    assert result.get(timeout=0) == 5


def test_a_task_a_live_attempt_holds_is_not_redriven(
    rt: Runtime, tasks: SimpleNamespace, dead: Callable[[int], str]
) -> None:
    task_id = dead(1)
    rt.app.dynamodb.update_item(
        TableName=rt.settings.table,
        Key=task_key(task_id),
        UpdateExpression="SET #s = :started, lease_until = :later",
        ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={":started": {"S": "STARTED"}, ":later": {"N": str(rt.clock.now() + 600)}},
    )

    report = dlq.redrive(rt.app)

    assert [why for _, why in report.refused] == ["an attempt is running it now; redrive again once it has finished"]


# --- interruptions: each step of a redrive may be the last one that happens -------------------------------


def test_stopped_before_the_reset_nothing_changes(
    rt: Runtime, tasks: SimpleNamespace, dead: Callable[[int], str]
) -> None:
    task_id = dead(1)
    inject(rt, "UpdateItem", Crash("before the reset"))

    with pytest.raises(Crash):
        dlq.redrive(rt.app)

    after_visibility(rt)
    assert rt.app.AsyncResult(task_id).state is State.DEAD
    assert [m.task_id for m in dlq.peek(rt.app)] == [task_id]


def test_stopped_after_the_reset_the_next_redrive_finishes_without_counting_again(
    rt: Runtime, tasks: SimpleNamespace, dead: Callable[[int], str]
) -> None:
    task_id = dead(1)
    tasks.fixed["yes"] = True
    inject(rt, "SendMessageBatch", Crash("between reset and send"))

    with pytest.raises(Crash):
        dlq.redrive(rt.app)

    after_visibility(rt)
    [letter] = dlq.peek(rt.app)
    assert dlq.status(letter, rt.app.store.get(task_id), 8).startswith("redrive interrupted")
    report = dlq.redrive(rt.app)
    rt.drain()
    assert [m.task_id for m in report.moved] == [task_id]
    record = rt.app.store.get(task_id)
    assert record is not None
    assert (record.state, record.redrives) == (State.SUCCESS, 1)
    assert tasks.runs["fragile-1"] == 3  # two attempts before, one after: nothing ran twice
    assert dlq.peek(rt.app) == []


def test_stopped_after_the_send_the_task_runs_once_and_the_leftover_copy_is_removed(
    rt: Runtime, tasks: SimpleNamespace, dead: Callable[[int], str]
) -> None:
    task_id = dead(1)
    tasks.fixed["yes"] = True
    inject(rt, "DeleteMessageBatch", Crash("between send and delete"), queue_url=dlq_url(rt))

    with pytest.raises(Crash):
        dlq.redrive(rt.app)
    rt.drain()

    after_visibility(rt)
    [letter] = dlq.peek(rt.app)
    assert dlq.status(letter, rt.app.store.get(task_id), 8) == (
        "leftover copy: the task is already SUCCESS; a redrive removes it"
    )
    report = dlq.redrive(rt.app)
    assert [m.task_id for m in report.dropped] == [task_id]
    assert dlq.peek(rt.app) == []
    assert tasks.runs["fragile-1"] == 3


def test_stopped_after_the_send_and_redriven_again_at_once_the_duplicate_runs_once(
    rt: Runtime, tasks: SimpleNamespace, dead: Callable[[int], str]
) -> None:
    task_id = dead(1)
    tasks.fixed["yes"] = True
    inject(rt, "DeleteMessageBatch", Crash("between send and delete"), queue_url=dlq_url(rt))
    with pytest.raises(Crash):
        dlq.redrive(rt.app)
    after_visibility(rt)

    report = dlq.redrive(rt.app)  # the task is still PENDING: its message goes back a second time
    rt.drain()

    assert [m.task_id for m in report.moved] == [task_id]
    assert rt.app.AsyncResult(task_id).get(timeout=0) == 1
    assert tasks.runs["fragile-1"] == 3
    assert dlq.peek(rt.app) == []
    assert rt.queued() == 0


def test_an_aws_error_on_the_send_is_reported_and_the_message_stays_visible(
    rt: Runtime, tasks: SimpleNamespace, dead: Callable[[int], str]
) -> None:
    task_id = dead(1)
    throttled = ClientError({"Error": {"Code": "RequestThrottled", "Message": "slow down"}}, "SendMessageBatch")
    inject(rt, "SendMessageBatch", throttled)

    report = dlq.redrive(rt.app)

    [(letter, why)] = report.failed
    assert letter.task_id == task_id
    assert "RequestThrottled" in why
    assert [m.task_id for m in dlq.peek(rt.app)] == [task_id]
    assert [m.task_id for m in dlq.redrive(rt.app).moved] == [task_id]


# --- looking and purging -------------------------------------------------------------------------------------


def test_looking_leaves_every_message_in_place(rt: Runtime, dead: Callable[[int], str]) -> None:
    ids = {dead(n) for n in range(12)}

    first = dlq.peek(rt.app)
    second = dlq.peek(rt.app)

    assert {m.task_id for m in first} == {m.task_id for m in second} == ids
    assert all(m.reason and "not fixed yet" in m.reason for m in first)


def test_find_by_task_id_or_message_id(rt: Runtime, dead: Callable[[int], str]) -> None:
    task_id = dead(1)
    [letter] = dlq.peek(rt.app)

    assert dlq.find(rt.app, task_id) == letter
    assert dlq.find(rt.app, letter.message_id) == letter
    assert dlq.find(rt.app, "nope") is None


def test_purge_empties_the_dead_letter_queues_and_leaves_the_records(rt: Runtime, dead: Callable[[int], str]) -> None:
    task_id = dead(1)

    assert dlq.purge(rt.app) == ["default"]

    assert dlq.peek(rt.app) == []
    assert rt.app.AsyncResult(task_id).state is State.DEAD
