"""The local twin behaves as AWS documents where moto does not: each test names the documentation it follows.

Each correction lives in :mod:`squall.local.motoshim` (SQS and DynamoDB) or :mod:`squall.local.esm` (the
Lambda event source mapping); without it, its tests here fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from squall import Queue, Squall, State, clock, local
from squall.local import Runtime, motoshim
from squall.local.esm import EventSourceMapping

TIMEOUT = 60.0  # the local runtime's default worker timeout, in seconds
TWELVE_HOURS = 12 * 3600


@pytest.fixture
def app() -> Squall:
    """An app with the default queue and a narrow one: one record per batch, at most two at once."""
    return Squall(
        f"test-{uuid.uuid4().hex[:8]}", queues=[Queue("default"), Queue("narrow", batch_size=1, max_concurrency=2)]
    )


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    effects: list[str] = []

    @app.task(name="twin.slow")
    def slow() -> str:
        effects.append("started")
        try:
            clock.sleep(2 * TIMEOUT)  # still running when Lambda's timeout strikes
        except Exception:
            effects.append("swallowed")
        effects.append("finished")
        return "done"

    @app.task(name="twin.quick")
    def quick() -> str:
        effects.append("quick")
        return "done"

    return SimpleNamespace(slow=slow, quick=quick, effects=effects)


@pytest.fixture
def sqs(rt: Runtime) -> Any:
    """A plain SQS client on the runtime's moto."""
    return rt.session.client("sqs", region_name=rt.settings.region)


@pytest.fixture
def dynamodb(rt: Runtime) -> Any:
    """A plain DynamoDB client on the runtime's moto."""
    return rt.session.client("dynamodb", region_name=rt.settings.region)


def make_queue(sqs: Any, name: str, **attributes: str) -> str:
    """A queue of the test's own, outside the app; returns its URL."""
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def source_and_dead_letter_queue(sqs: Any, *, dlq_retention: int = 1_209_600) -> tuple[str, str]:
    """A source queue whose redrive policy moves a message after one receive, and its DLQ; their URLs."""
    dlq = make_queue(sqs, "twin-dlq", MessageRetentionPeriod=str(dlq_retention))
    policy = f'{{"deadLetterTargetArn":"{queue_arn(sqs, dlq)}","maxReceiveCount":1}}'
    return make_queue(sqs, "twin-source", RedrivePolicy=policy), dlq


def receive_one(sqs: Any, url: str, **params: Any) -> dict[str, Any]:
    [message] = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"], **params)["Messages"]
    return dict(message)


def error_code(refused: pytest.ExceptionInfo[ClientError]) -> str:
    return str(refused.value.response["Error"]["Code"])


def mapping_with(rt: Runtime, handler: Callable[[dict[str, Any], Any], Any], queue: str = "default") -> Any:
    """An event source on ``queue`` that calls ``handler`` instead of the worker."""
    return EventSourceMapping(
        rt.topology.queue(queue),
        rt.settings.queue(queue),
        lambda: rt.app.sqs,
        handler,
        rt.settings.region,
        TIMEOUT,
        256,
    )


# --- ChangeMessageVisibility: 12 hours from the latest receive ---------------------------------------


def test_visibility_can_be_changed_on_a_message_received_twelve_hours_after_its_send(rt: Runtime, sqs: Any) -> None:
    """SQS Developer Guide, "Amazon SQS visibility timeout": the 12-hour maximum counts from the receive."""
    # Given a message first received 13 hours after it was sent
    url = make_queue(sqs, "twin-cap")
    sqs.send_message(QueueUrl=url, MessageBody="late")
    rt.advance(hours=13)
    message = receive_one(sqs, url)

    # When its consumer extends its visibility by an hour
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=3600)

    # Then SQS accepts: the message stays hidden for that hour
    assert motoshim.next_visible_at(rt.settings.region, "twin-cap") == pytest.approx(rt.clock.now() + 3600, abs=1)


def test_visibility_past_twelve_hours_from_the_receive_is_refused(rt: Runtime, sqs: Any) -> None:
    """ChangeMessageVisibility API reference: a timeout past the time left of the 12-hour maximum is an error."""
    # Given a message received 11 hours ago and kept hidden since
    url = make_queue(sqs, "twin-cap")
    sqs.send_message(QueueUrl=url, MessageBody="long")
    handle = receive_one(sqs, url, VisibilityTimeout=TWELVE_HOURS)["ReceiptHandle"]
    rt.advance(hours=11)

    # When its consumer asks for two hours more, then for just under one
    with pytest.raises(ClientError) as refused:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=7200)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=3599)

    # Then the first is refused and the second accepted
    assert error_code(refused) == "InvalidParameterValue"


def test_a_visibility_batch_refuses_only_the_entry_past_twelve_hours(rt: Runtime, sqs: Any) -> None:
    """ChangeMessageVisibilityBatch API reference: each entry succeeds or fails on its own (Failed entries)."""
    # Given two messages received 11 hours ago
    url = make_queue(sqs, "twin-cap")
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "a"}, {"Id": "b", "MessageBody": "b"}])
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=TWELVE_HOURS)["Messages"]
    rt.advance(hours=11)

    # When one is extended within the 12 hours and the other past them, in one batch
    response = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "within", "ReceiptHandle": received[0]["ReceiptHandle"], "VisibilityTimeout": 600},
            {"Id": "past", "ReceiptHandle": received[1]["ReceiptHandle"], "VisibilityTimeout": 7200},
        ],
    )

    # Then only the second entry fails
    assert [entry["Id"] for entry in response["Successful"]] == ["within"]
    assert [(entry["Id"], entry["Code"], entry["SenderFault"]) for entry in response["Failed"]] == [
        ("past", "InvalidParameterValue", True)
    ]


# --- retention: SQS deletes what it held too long --------------------------------------------------


def test_a_message_held_past_the_retention_period_is_deleted(rt: Runtime, sqs: Any) -> None:
    """SQS Developer Guide, "Amazon SQS message retention": messages older than the period are deleted."""
    # Given a message, in flight, on a queue that keeps messages one minute
    url = make_queue(sqs, "twin-brief", MessageRetentionPeriod="60")
    sqs.send_message(QueueUrl=url, MessageBody="brief")
    receive_one(sqs, url, VisibilityTimeout=120)

    # When the minute has passed
    rt.advance(61)

    # Then the queue no longer holds it, by any measure
    assert motoshim.message_count(rt.settings.region, "twin-brief") == 0
    assert motoshim.next_visible_at(rt.settings.region, "twin-brief") is None
    assert motoshim.peek(rt.settings.region, "twin-brief") == []
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")


def test_a_receive_returns_the_messages_not_yet_expired(rt: Runtime, sqs: Any) -> None:
    """DeleteMessage API reference: "Amazon SQS automatically deletes messages left in a queue longer than
    the retention period"; the ones younger than it are still received."""
    # Given an expired message ahead of a fresh one
    url = make_queue(sqs, "twin-brief", MessageRetentionPeriod="60")
    sqs.send_message(QueueUrl=url, MessageBody="old")
    rt.advance(50)
    sqs.send_message(QueueUrl=url, MessageBody="new")
    rt.advance(20)

    # When a consumer receives
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]

    # Then it gets the fresh one
    assert [m["Body"] for m in received] == ["new"]


def test_a_dead_lettered_message_expires_counted_from_its_send_to_the_source(rt: Runtime, sqs: Any) -> None:
    """SQS Developer Guide, "Using dead-letter queues": on a standard queue a message's expiration is always
    based on its original enqueue timestamp, which moving it to a dead-letter queue does not change."""
    # Given a message moved to a DLQ (retention 100 s) 50 s after it was sent to its source queue
    source, _ = source_and_dead_letter_queue(sqs, dlq_retention=100)
    sqs.send_message(QueueUrl=source, MessageBody="moved")
    rt.advance(49)
    receive_one(sqs, source, VisibilityTimeout=1)
    rt.advance(2)
    assert sqs.receive_message(QueueUrl=source).get("Messages", []) == []  # SQS moved it instead
    assert motoshim.message_count(rt.settings.region, "twin-dlq") == 1

    # When 100 s have passed since the send (only 49 on the DLQ)
    rt.advance(50)

    # Then the DLQ no longer holds it
    assert motoshim.message_count(rt.settings.region, "twin-dlq") == 0


def test_a_task_left_on_its_queue_past_the_retention_period_is_gone(rt: Runtime, tasks: SimpleNamespace) -> None:
    """SQS Developer Guide, "Amazon SQS message retention": the app's own queues (4 days) expire too."""
    tasks.slow.delay()

    rt.advance(days=4, seconds=1)

    assert rt.queued() == 0


# --- DeleteMessage with an earlier receive's handle ------------------------------------------------


@pytest.fixture
def received_twice(rt: Runtime, sqs: Any) -> tuple[str, str, str]:
    """A message received twice (the first delivery's visibility lapsed): its queue URL, old and new handles."""
    url = make_queue(sqs, "twin-handles")
    sqs.send_message(QueueUrl=url, MessageBody="twice")
    old = receive_one(sqs, url, VisibilityTimeout=1)["ReceiptHandle"]
    rt.advance(2)
    new = receive_one(sqs, url, VisibilityTimeout=60)["ReceiptHandle"]
    return url, old, new


def test_delete_with_an_earlier_receipt_handle_succeeds_and_deletes_nothing(
    rt: Runtime, sqs: Any, received_twice: tuple[str, str, str]
) -> None:
    """SQS Developer Guide, "Amazon SQS visibility timeout" and DeleteMessage API reference: with an old
    receipt handle the request succeeds, but the message is not deleted."""
    url, old, new = received_twice

    sqs.delete_message(QueueUrl=url, ReceiptHandle=old)
    assert motoshim.message_count(rt.settings.region, "twin-handles") == 1

    sqs.delete_message(QueueUrl=url, ReceiptHandle=new)
    assert motoshim.message_count(rt.settings.region, "twin-handles") == 0


def test_a_delete_batch_with_an_earlier_receipt_handle_succeeds_and_deletes_nothing(
    rt: Runtime, sqs: Any, received_twice: tuple[str, str, str]
) -> None:
    """DeleteMessageBatch API reference (each entry as DeleteMessage): an old handle succeeds, deleting nothing."""
    url, old, _ = received_twice

    response = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "old", "ReceiptHandle": old}])

    assert [entry["Id"] for entry in response["Successful"]] == ["old"]
    assert response.get("Failed", []) == []
    assert motoshim.message_count(rt.settings.region, "twin-handles") == 1


# --- a redrive policy's move names the source queue ------------------------------------------------


def test_a_message_moved_by_the_redrive_policy_names_its_source_queue(rt: Runtime, sqs: Any) -> None:
    """ReceiveMessage API reference, MessageSystemAttributeNames: DeadLetterQueueSourceArn is the source
    queue's ARN of a message moved to a dead-letter queue; a standard queue's message keeps its SentTimestamp."""
    # Given a message SQS moved to the DLQ after its one allowed receive, and one sent to the DLQ directly
    source, dlq = source_and_dead_letter_queue(sqs)
    sqs.send_message(QueueUrl=source, MessageBody="moved")
    sent = receive_one(sqs, source, VisibilityTimeout=1)["Attributes"]["SentTimestamp"]
    rt.advance(2)
    assert sqs.receive_message(QueueUrl=source).get("Messages", []) == []
    sqs.send_message(QueueUrl=dlq, MessageBody="direct")

    # When the DLQ is read with every system attribute, and with only this one
    everything = sqs.receive_message(
        QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=1, MessageSystemAttributeNames=["All"]
    )["Messages"]
    rt.advance(2)
    only = sqs.receive_message(
        QueueUrl=dlq, MaxNumberOfMessages=10, MessageSystemAttributeNames=["DeadLetterQueueSourceArn"]
    )["Messages"]

    # Then the moved message names its source and kept its send time; the direct one names nothing
    by_body = {m["Body"]: m["Attributes"] for m in everything}
    assert by_body["moved"]["DeadLetterQueueSourceArn"] == queue_arn(sqs, source)
    assert by_body["moved"]["SentTimestamp"] == sent
    assert "DeadLetterQueueSourceArn" not in by_body["direct"]
    assert {m["Body"]: m.get("Attributes", {}).get("DeadLetterQueueSourceArn") for m in only} == {
        "moved": queue_arn(sqs, source),
        "direct": None,
    }


# --- UpdateItem: all or nothing ----------------------------------------------------------------------


@pytest.fixture
def table(dynamodb: Any) -> str:
    dynamodb.create_table(
        TableName="twin-items",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return "twin-items"


def oversized_update(dynamodb: Any, table: str, pk: str, **params: Any) -> pytest.ExceptionInfo[ClientError]:
    """An UpdateItem whose later actions would take the item past DynamoDB's 400 KB; returns its refusal."""
    with pytest.raises(ClientError) as refused:
        dynamodb.update_item(
            TableName=table,
            Key={"pk": {"S": pk}},
            UpdateExpression="SET note = :after, big1 = :big, big2 = :big",
            ExpressionAttributeValues={":after": {"S": "after"}, ":big": {"S": "x" * 250_000}},
            **params,
        )
    return refused


def test_an_update_refused_for_item_size_leaves_the_item_as_it_was(dynamodb: Any, table: str) -> None:
    """DynamoDB Developer Guide, "Working with items and attributes": a write is atomic; an UpdateItem that
    would exceed the 400 KB item size is refused with ValidationException and changes nothing."""
    before = {"pk": {"S": "a"}, "note": {"S": "before"}}
    dynamodb.put_item(TableName=table, Item=before)

    refused = oversized_update(dynamodb, table, "a", ConditionExpression="attribute_exists(pk)")

    assert error_code(refused) == "ValidationException"
    assert "maximum allowed size" in refused.value.response["Error"]["Message"]
    assert dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}}, ConsistentRead=True)["Item"] == before


def test_an_update_refused_for_item_size_creates_no_item(dynamodb: Any, table: str) -> None:
    """DynamoDB Developer Guide, "Working with items and attributes": a refused UpdateItem creates nothing."""
    refused = oversized_update(dynamodb, table, "absent")

    assert error_code(refused) == "ValidationException"
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": "absent"}}, ConsistentRead=True)


# --- the event source mapping: function timeout ------------------------------------------------------


def test_a_deadline_stops_a_fake_clock_sleep_there() -> None:
    """Lambda Developer Guide, "Configure Lambda function timeout": at the timeout the invocation stops."""
    fake = clock.FakeClock(start=1_000.0)
    fake.sleep(5)

    with fake.deadline(1_060.0), pytest.raises(clock.DeadlineReached):
        fake.sleep(120)

    assert fake.now() == 1_060.0
    fake.sleep(120)  # past the block, the clock sleeps as before
    assert fake.now() == 1_180.0


def test_an_invocation_still_running_at_its_timeout_is_stopped_and_deletes_nothing(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    """Lambda Developer Guide, "Configure Lambda function timeout" and "Handling errors for an SQS event
    source": a timed-out invocation's batch is not deleted; it returns after the visibility timeout."""
    # Given a task whose body sleeps past the function timeout, catching every Exception
    result = tasks.slow.delay()
    start = rt.clock.now()

    # When the worker runs it
    assert rt.poll() == 1

    # Then Lambda stopped it at the timeout: nothing after ran, nothing was deleted, its writes stay
    (invocation,) = rt.invocations
    assert invocation.timed_out
    assert isinstance(invocation.error, clock.DeadlineReached)
    assert tasks.effects == ["started"]
    assert rt.clock.now() == start + TIMEOUT
    assert rt.queued() == 1
    assert result.state is State.STARTED

    # And the message comes back once its visibility timeout, counted from the receive, is over
    visibility = rt.topology.queue("default").visibility_timeout
    rt.advance(visibility - TIMEOUT - 1)
    assert rt.poll() == 0
    rt.advance(2)
    assert rt.poll() == 1


def test_a_handler_that_returns_after_its_deadline_has_timed_out(rt: Runtime, tasks: SimpleNamespace) -> None:
    """Lambda Developer Guide, "Configure Lambda function timeout": a response after the timeout never arrives."""
    tasks.slow.delay()
    fake = rt.clock
    assert isinstance(fake, clock.FakeClock)

    def late(event: dict[str, Any], context: Any) -> Any:
        fake.advance(TIMEOUT)  # time moved without a sleep: no deadline stops it on the way
        return {"batchItemFailures": []}

    mapping = mapping_with(rt, late)

    assert mapping.poll() == 1
    assert mapping.history[-1].timed_out
    assert rt.queued() == 1


def test_on_the_wall_clock_the_emulator_sets_no_deadline(app: Squall, tasks: SimpleNamespace) -> None:
    """Lambda Developer Guide, "Configure Lambda function timeout": with real time, the timeout is real
    Lambda's to enforce; the emulator adds nothing."""
    with local.run(app, realtime=True) as rt:
        tasks.slow.delay()
        mapping = EventSourceMapping(
            rt.topology.queue("default"),
            rt.settings.queue("default"),
            lambda: rt.app.sqs,
            lambda event, context: {"batchItemFailures": []},
            rt.settings.region,
            0.0,  # a deadline already passed, were it enforced
            256,
        )

        assert mapping.poll() == 1
        assert not mapping.history[-1].timed_out
        assert rt.queued() == 0


# --- the event source mapping: throttling and MaximumConcurrency -----------------------------------


def test_a_throttled_batch_is_not_handled_and_returns_after_its_visibility_timeout(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    """Lambda Developer Guide, "Configuring scaling behavior for SQS event source mappings": a throttled
    batch returns to the queue after its visibility timeout, and the receive counts toward maxReceiveCount."""
    # Given Lambda throttles the next batch
    tasks.slow.delay()
    receive_counts: list[str] = []

    def look(event: dict[str, Any], context: Any) -> Any:
        receive_counts.extend(record["attributes"]["ApproximateReceiveCount"] for record in event["Records"])
        return {"batchItemFailures": []}

    mapping = mapping_with(rt, look)
    mapping.throttle(1)

    # When the event source polls
    assert mapping.poll() == 1

    # Then the handler never saw the batch, and the message is in flight until its visibility timeout
    assert [i.throttled for i in mapping.history] == [True]
    assert receive_counts == []
    assert mapping.poll() == 0
    rt.advance(rt.topology.queue("default").visibility_timeout + 1)
    assert mapping.poll() == 1
    assert receive_counts == ["2"]
    assert rt.queued() == 0


def test_the_runtime_throttles_the_worker_of_one_queue(rt: Runtime, tasks: SimpleNamespace) -> None:
    """Lambda Developer Guide, "Configuring scaling behavior for SQS event source mappings": throttled
    batches are retried once visible again; the task still runs."""
    rt.throttle("default", invocations=2)
    tasks.quick.delay()

    rt.poll()
    rt.advance(rt.topology.queue("default").visibility_timeout + 1)
    rt.poll()
    rt.advance(rt.topology.queue("default").visibility_timeout + 1)
    rt.poll()

    assert [i.throttled for i in rt.invocations] == [True, True, False]
    assert tasks.effects == ["quick"]
    assert rt.queued() == 0


def test_a_poll_round_starts_at_most_maximum_concurrency_invocations(rt: Runtime, sqs: Any) -> None:
    """Lambda Developer Guide, "Configuring scaling behavior for SQS event source mappings": MaximumConcurrency
    caps the concurrent invocations of an event source; concurrent batches hold their messages in flight."""
    # Given five messages on a queue of one record per batch and MaximumConcurrency 2
    url = rt.settings.queue("narrow").url
    for i in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=f"m-{i}")
    in_flight: list[str] = []

    def look(event: dict[str, Any], context: Any) -> Any:
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
        in_flight.append(counts["Attributes"]["ApproximateNumberOfMessagesNotVisible"])
        return {"batchItemFailures": []}

    # When an event source scaled out to ten pollers makes one round
    mapping = mapping_with(rt, look, queue="narrow")
    mapping.concurrency = 10
    handled = mapping.poll()

    # Then it started two invocations, both batches received before either ran
    assert handled == 2
    assert len(mapping.history) == 2
    assert in_flight == ["2", "1"]
    assert rt.queued("narrow") == 3
