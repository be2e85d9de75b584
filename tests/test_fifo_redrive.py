"""FIFO redrive: a FIFO message SQS moves after its receives lands on the FIFO intake queue, where the reconciler
records its task DEAD with a reason and puts it in the FIFO DLQ in its own message group; a redrive brings it back.

A message is held through its receives here by an extension that defers it (as a maintenance window would): the
worker keeps a deferred FIFO message hidden on its queue and never sends it again, so its receives run out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from squall import Queue, Squall, State, TaskContext, local
from squall.deploy import cost
from squall.deploy.topology import describe
from squall.errors import StoreError
from squall.local import Runtime
from squall.ops import dlq
from squall.tasks.extensions import ADMIT, Admission, Extension
from squall.tasks.task import Task
from squall.wire.envelope import Envelope
from squall.worker.deadletters import REASON_ATTRIBUTE, TASK_ID_ATTRIBUTE

#: How long the extension defers a held task each time, in seconds.
HOLD_SECONDS = 60


class Window(Extension):
    """Defers the tasks whose first argument is in ``held``, for a minute each time, as a closed window would."""

    name = "window"

    def __init__(self) -> None:
        self.held: set[str] = set()

    def before_claim(self, envelope: Envelope, task: Task[..., Any]) -> Admission:
        if envelope.args and envelope.args[0] in self.held:
            return Admission(defer=HOLD_SECONDS, reason="window closed")
        return ADMIT


@pytest.fixture
def window() -> Window:
    return Window()


@pytest.fixture
def app(window: Window) -> Squall:
    return Squall(
        f"fifo-{uuid.uuid4().hex[:6]}", queues=[Queue("default"), Queue("ledger", fifo=True)], extensions=[window]
    )


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    runs: list[str] = []

    @app.task(queue="ledger", bind=True)
    def post(task: TaskContext, entry: str) -> str:
        runs.append(entry)
        return entry

    return SimpleNamespace(post=post, runs=runs)


@pytest.fixture
def rt(app: Squall, tasks: SimpleNamespace) -> Iterator[Runtime]:
    with local.run(app) as runtime:
        yield runtime


def groups(rt: Runtime) -> dict[str, str]:
    """Task id -> MessageGroupId of every letter in the ledger queue's FIFO DLQ (received, then shown again)."""
    url = rt.settings.queue("ledger").dlq_url
    messages = rt.app.sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
        VisibilityTimeout=0,
    ).get("Messages", [])
    rt.clock.sleep(0.001)  # moto shows them again once its clock is past the visibility time
    return {
        m["MessageAttributes"][TASK_ID_ATTRIBUTE]["StringValue"]: m["Attributes"]["MessageGroupId"] for m in messages
    }


def test_a_fifo_message_held_past_its_receives_is_recorded_dead_and_dead_lettered_in_its_group(
    rt: Runtime, tasks: SimpleNamespace, window: Window
) -> None:
    # Given a FIFO task the worker keeps deferring
    window.held.add("held")
    result = tasks.post.apply_async(args=("held",), message_group_id="acct-1")

    # When its receives run out
    rt.drain()

    # Then SQS moved it to the FIFO intake, and the reconciler recorded it DEAD with a reason and dead-lettered it
    assert result.state is State.DEAD
    assert rt.fifo_intake is not None
    assert rt.fifo_intake.history
    record = rt.app.store.get(result.id)
    assert record is not None
    assert record.reason is not None
    assert record.reason.startswith("moved by SQS's redrive policy after 10 receives")
    assert "kept it on its FIFO queue" in record.reason
    [letter] = rt.dead_letters("ledger")
    assert letter.attributes[REASON_ATTRIBUTE] == record.reason
    assert groups(rt) == {result.id: "acct-1"}
    assert tasks.runs == []


def test_dlq_list_shows_the_moved_fifo_message_with_its_reason(
    rt: Runtime, tasks: SimpleNamespace, window: Window
) -> None:
    # Given a FIFO task held past its receives
    window.held.add("held")
    result = tasks.post.apply_async(args=("held",), message_group_id="acct-1")
    rt.drain()

    # When the dead letters are listed (what `squall dlq list` prints)
    [letter] = dlq.peek(rt.app, "ledger")
    why = dlq.status(letter, rt.app.store.get(result.id), rt.settings.queue("ledger").max_receive_count)

    # Then the letter names its task and the reconciler's reason
    assert letter.task_id == result.id
    assert not letter.moved_by_policy
    assert why.startswith("moved by SQS's redrive policy after 10 receives")


def test_a_redriven_fifo_message_goes_back_into_its_group_and_runs(
    rt: Runtime, tasks: SimpleNamespace, window: Window
) -> None:
    # Given a FIFO task held past its receives and dead-lettered
    window.held.add("held")
    result = tasks.post.apply_async(args=("held",), message_group_id="acct-1")
    rt.drain()
    assert [result.state] == [State.DEAD]

    # When the window opens and the task is redriven
    window.held.clear()
    report = dlq.redrive(rt.app, [result.id])
    rt.drain()

    # Then it ran once, from its FIFO queue, and its DLQ is empty
    assert [letter.task_id for letter in report.moved] == [result.id]
    assert result.state is State.SUCCESS
    assert tasks.runs == ["held"]
    assert rt.dead_letters("ledger") == []


def test_a_message_skipped_behind_a_held_group_head_is_recorded_dead_too(
    rt: Runtime, tasks: SimpleNamespace, window: Window
) -> None:
    # Given a held head and a message behind it in its group, and another group that runs
    window.held.add("head")
    head = tasks.post.apply_async(args=("head",), message_group_id="acct-1")
    behind = tasks.post.apply_async(args=("behind",), message_group_id="acct-1")
    other = tasks.post.apply_async(args=("other",), message_group_id="acct-2")

    # When their receives run out
    rt.drain()

    # Then both are DEAD with a reason, in the FIFO DLQ in their group; the other group ran
    assert (head.state, behind.state, other.state) == (State.DEAD, State.DEAD, State.SUCCESS)
    assert all(REASON_ATTRIBUTE in letter.attributes for letter in rt.dead_letters("ledger"))
    assert groups(rt) == {head.id: "acct-1", behind.id: "acct-1"}
    assert tasks.runs == ["other"]


def test_a_reconciler_retry_adds_no_second_fifo_letter(
    rt: Runtime, tasks: SimpleNamespace, window: Window, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a held FIFO task whose letter is never noted on its record, and a reconciler whose first delete is lost
    window.held.add("held")
    result = tasks.post.apply_async(args=("held",), message_group_id="acct-1")

    def unnoted(task_id: str) -> None:
        raise StoreError(f"task {task_id}: the table is unreachable")

    monkeypatch.setattr(rt.app.store, "lettered", unnoted)
    assert rt.fifo_intake is not None
    handler = rt.fifo_intake.handler
    lost: list[str] = []

    def delete_lost_once(event: dict[str, Any], context: Any) -> Any:
        response = handler(event, context)
        if lost:
            return response
        lost.extend(record["messageId"] for record in event["Records"])
        return {"batchItemFailures": [{"itemIdentifier": identifier} for identifier in lost]}

    rt.fifo_intake.handler = delete_lost_once

    # When the moved message is reconciled twice, the second time within SQS's deduplication interval
    rt.drain()

    # Then the FIFO DLQ holds one letter
    assert lost
    assert len(rt.fifo_intake.history) >= 2
    assert result.state is State.DEAD
    assert len(rt.dead_letters("ledger")) == 1


def test_an_app_without_fifo_queues_has_no_fifo_intake() -> None:
    # Given an app with standard queues only
    plain = Squall("plain", queues=[Queue("default"), Queue("other")])

    # When it is described
    topology = describe(plain)

    # Then there is one intake queue, standard
    assert topology.fifo_intake is None
    assert topology.intakes == (topology.intake,)


def test_every_fifo_queue_redrives_into_the_one_fifo_intake(rt: Runtime) -> None:
    # Given the app's queues as provisioned
    sqs = rt.app.sqs
    fifo_intake = rt.topology.fifo_intake
    assert fifo_intake is not None
    assert fifo_intake.name.endswith("-moved.fifo")

    # When their redrive policies are read
    ledger = sqs.get_queue_attributes(QueueUrl=rt.settings.queue("ledger").url, AttributeNames=["RedrivePolicy"])
    default = sqs.get_queue_attributes(QueueUrl=rt.settings.queue("default").url, AttributeNames=["RedrivePolicy"])

    # Then the FIFO queue's targets the FIFO intake, the standard queue's the standard intake
    assert f':{fifo_intake.name}"' in ledger["Attributes"]["RedrivePolicy"]
    assert f':{rt.topology.intake.name}"' in default["Attributes"]["RedrivePolicy"]


def test_the_cost_model_counts_the_fifo_intake_s_event_source(rt: Runtime) -> None:
    # Given the FIFO app's topology: two queues, and two intake queues
    topology = rt.topology

    # When the cost model counts the event sources that poll when idle
    counted = cost.event_sources(cost.Workload(tasks_per_month=0, queues=2, fifo=True))

    # Then it counts every queue's and both of the reconciler's
    assert counted == len(topology.queues) + len(topology.intakes) == 4


def test_a_fifo_task_the_worker_makes_dead_is_dead_lettered_in_its_own_group(
    app: Squall, rt: Runtime, tasks: SimpleNamespace
) -> None:
    # Given a FIFO task that fails with no retries, sent in group acct-7
    @app.task(queue="ledger", max_retries=0)
    def refuse(entry: str) -> None:
        raise ValueError(f"no {entry}")

    result = refuse.apply_async(args=("e1",), message_group_id="acct-7")

    # When the worker records it DEAD
    rt.drain()

    # Then its letter is in the FIFO DLQ in the group it was sent in, not a group of its own, so a redrive
    # returns it behind what that group holds
    assert result.state is State.DEAD
    assert groups(rt) == {result.id: "acct-7"}
