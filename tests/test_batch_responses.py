"""Partial batch responses: the real handler reports exactly the records that must stay, by AWS's rules."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from squall import Squall, State, TaskContext
from squall.handler import make_handler
from squall.limits import DEFAULT_RESULT_TTL_SECONDS
from squall.local import Runtime
from squall.local.esm import EventSourceMapping, FakeLambdaContext, failed_identifiers, to_event_record


class Poison(Exception):
    """An error that is never retried."""


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    @app.task(bind=True, dont_autoretry_for=(Poison,))
    def work(task: TaskContext, kind: str) -> str:
        if kind == "poison":
            raise Poison("never works")
        if kind == "retry" and task.request.attempt == 1:
            raise task.retry(countdown=60)
        if kind == "flaky" and task.request.attempt == 1:
            raise ConnectionError("try again")
        return kind

    return SimpleNamespace(work=work)


# --- AWS's rules for the response ------------------------------------------------------------------------

IDS = {"m-1", "m-2", "m-3"}


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(None, id="null-response"),
        pytest.param({}, id="empty-response"),
        pytest.param({"batchItemFailures": []}, id="empty-list"),
        pytest.param({"batchItemFailures": None}, id="null-list"),
    ],
)
def test_response_without_failures_means_the_whole_batch_succeeded(response: Any) -> None:
    assert failed_identifiers(response, IDS) == set()


def test_listed_identifiers_are_the_ones_kept() -> None:
    response = {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-3"}]}

    assert failed_identifiers(response, IDS) == {"m-1", "m-3"}


@pytest.mark.parametrize(
    "response",
    [
        pytest.param({"batchItemFailures": [{"itemIdentifier": None}]}, id="null-identifier"),
        pytest.param({"batchItemFailures": [{"itemIdentifier": ""}]}, id="empty-identifier"),
        pytest.param({"batchItemFailures": [{"itemIdentifier": "m-9"}]}, id="unknown-identifier"),
        pytest.param({"batchItemFailures": [{"ItemIdentifier": "m-1"}]}, id="bad-key-name"),
        pytest.param({"batchItemFailures": [{}]}, id="entry-without-identifier"),
        pytest.param({"batchItemFailures": ["m-1"]}, id="entry-not-an-object"),
        pytest.param({"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": None}]}, id="one-bad-entry"),
        pytest.param({"batchItemFailures": "m-1"}, id="list-is-a-string"),
        pytest.param({"batchItemFailures": 5}, id="list-is-a-number"),
        pytest.param({"batchItemFailures": {"itemIdentifier": "m-1"}}, id="list-is-an-object"),
        pytest.param("ok", id="response-not-an-object"),
        pytest.param([{"itemIdentifier": "m-1"}], id="response-is-a-list"),
    ],
)
def test_malformed_response_fails_the_whole_batch(response: Any) -> None:
    assert failed_identifiers(response, IDS) is None


# --- the real handler, property-based --------------------------------------------------------------------

KINDS = ("ok", "retry", "flaky", "poison", "malformed", "busy", "finished", "fault")
#: Kinds whose message must stay on the queue (reported as batch item failures). A retried task is not
#: among them: its next attempt is a new message, and the failed delivery is acknowledged.
KEPT = {"busy", "fault"}


@pytest.fixture
def faults(rt: Runtime) -> Iterator[set[str]]:
    """Task ids whose DynamoDB writes fail, as a throttled or unreachable table would."""
    failing: set[str] = set()

    def inject(params: dict[str, Any], **_: Any) -> None:
        body = (params.get("body") or b"").decode()
        if any(f'"task#{task_id}"' in body for task_id in failing):
            raise ConnectionError("DynamoDB unreachable")

    rt.app.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", inject)
    yield failing
    rt.app.dynamodb.meta.events.unregister("before-call.dynamodb.UpdateItem", inject)


def prepare(rt: Runtime, tasks: SimpleNamespace, faults: set[str], kind: str) -> tuple[str, str]:
    """Put the task for one record of ``kind`` in place; return (task id, message body)."""
    task_id = f"{kind}-{uuid.uuid4().hex[:12]}"
    store = rt.app.store
    if kind == "malformed":
        return task_id, "{not json"
    if kind == "busy":
        store.claim(
            task_id,
            name=tasks.work.name,
            queue="default",
            created=rt.clock.now(),
            eta=None,
            max_retries=3,
            lease_seconds=600,
            ttl_seconds=DEFAULT_RESULT_TTL_SECONDS,
        )
    if kind == "finished":
        claim = store.claim(
            task_id,
            name=tasks.work.name,
            queue="default",
            created=rt.clock.now(),
            eta=None,
            max_retries=3,
            lease_seconds=600,
            ttl_seconds=DEFAULT_RESULT_TTL_SECONDS,
        )
        store.finish(task_id, claim.token, result_json='"finished"', progress=None, ttl_seconds=3600)
    if kind == "fault":
        faults.add(task_id)
    from squall.sending.producer import prepare as encode

    message = encode(tasks.work.s(kind), task_id=task_id, queue=None, countdown=None, eta=None)
    return task_id, message.body


@pytest.fixture
def handler(rt: Runtime) -> Any:
    """The real worker handler of the app under test (as the deployed Lambda builds it)."""
    return make_handler(rt.app)


def receive_batch(
    rt: Runtime, tasks: SimpleNamespace, faults: set[str], kinds: list[str]
) -> tuple[dict[str, str], list[Any]]:
    """Send one record of each kind, then receive them all in one real ReceiveMessage.

    Returns the kind of each message id, and the received messages.
    """
    url = rt.settings.queue("default").url
    bodies = [prepare(rt, tasks, faults, kind)[1] for kind in kinds]
    sent = rt.app.sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)]
    )
    kind_of = {entry["MessageId"]: kinds[int(entry["Id"])] for entry in sent["Successful"]}
    received = rt.app.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"]
    )["Messages"]
    assert {m["MessageId"] for m in received} == set(kind_of)
    return kind_of, received


def lambda_event(rt: Runtime, received: list[Any]) -> dict[str, Any]:
    queue = rt.settings.queue("default")
    return {"Records": [to_event_record(m, queue.arn, rt.settings.region) for m in received]}


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=10))
def test_handler_reports_exactly_the_records_that_must_stay(
    rt: Runtime, tasks: SimpleNamespace, faults: set[str], handler: Any, kinds: list[str]
) -> None:
    # Given a batch of 1-10 records, each of some kind, received for real from the queue
    kind_of, received = receive_batch(rt, tasks, faults, kinds)

    # When the real handler processes the batch
    response = handler(lambda_event(rt, received), FakeLambdaContext("worker", 60, 256, rt.settings.region))

    # Then it names exactly the records that must stay, never a finished or dead-lettered one
    assert "batchItemFailures" in response
    reported = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
    assert len(reported) == len(set(reported))
    assert set(reported) == {message_id for message_id, kind in kind_of.items() if kind in KEPT}
    assert failed_identifiers(response, set(kind_of)) == set(reported)

    # (clean up for the next example: nothing of this batch stays on the queue, nor a retry's new message)
    faults.clear()
    url = rt.settings.queue("default").url
    while received:
        rt.app.sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)],
        )
        received = rt.app.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])


def test_kept_records_come_back_and_every_task_ends_success_or_dead(
    rt: Runtime, tasks: SimpleNamespace, faults: set[str], handler: Any
) -> None:
    # Given one record of every kind, handled once (so the kept ones stay on the queue)
    kinds = list(KINDS)
    kind_of, received = receive_batch(rt, tasks, faults, kinds)
    task_ids = {m["MessageId"]: json.loads(m["Body"])["id"] for m in received if m["Body"] != "{not json"}
    response = handler(lambda_event(rt, received), FakeLambdaContext("worker", 60, 256, rt.settings.region))
    reported = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
    rt.app.sqs.delete_message_batch(
        QueueUrl=rt.settings.queue("default").url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(received)
            if m["MessageId"] not in reported
        ],
    )

    # When the faults clear and the runtime runs what stayed
    faults.clear()
    rt.drain()

    # Then nothing is left, the poison one is DEAD and every other one SUCCESS
    assert rt.queued() == 0
    states = {kind_of[message_id]: rt.app.AsyncResult(task_id).state for message_id, task_id in task_ids.items()}
    assert states == {kind: State.DEAD if kind == "poison" else State.SUCCESS for kind in KINDS if kind != "malformed"}
    assert len(rt.dead_letters()) == 2  # the poison task and the malformed body


# --- the event source mapping emulator -------------------------------------------------------------------


def mapping_with(rt: Runtime, handler: Any) -> EventSourceMapping:
    """An event source on the default queue that calls ``handler`` instead of the worker."""
    return EventSourceMapping(
        rt.topology.queue("default"),
        rt.settings.queue("default"),
        lambda: rt.app.sqs,
        handler,
        rt.settings.region,
        60.0,
        256,
    )


def test_handler_that_raises_fails_the_whole_batch_and_nothing_is_deleted(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given
    for i in range(3):
        tasks.work.delay(f"ok-{i}")

    def crash(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("out of memory")

    mapping = mapping_with(rt, crash)

    # When
    assert mapping.poll() == 3

    # Then every message stays, and comes back after the visibility timeout, received once more
    (invocation,) = mapping.history
    assert isinstance(invocation.error, RuntimeError)
    assert invocation.kept == set(invocation.message_ids)
    assert rt.queued() == 3
    receive_counts: list[str] = []

    def look(event: dict[str, Any], context: Any) -> Any:
        receive_counts.extend(record["attributes"]["ApproximateReceiveCount"] for record in event["Records"])
        return {"batchItemFailures": []}

    rt.advance(rt.topology.queue("default").visibility_timeout - 1)
    assert mapping_with(rt, look).poll() == 0
    rt.advance(2)
    assert mapping_with(rt, look).poll() == 3
    assert receive_counts == ["2", "2", "2"]


@pytest.mark.parametrize(
    ("response", "deleted"),
    [
        pytest.param(None, 3, id="null-is-success"),
        pytest.param({"batchItemFailures": []}, 3, id="empty-list-is-success"),
        pytest.param({"batchItemFailures": [{"itemIdentifier": "not-a-message"}]}, 0, id="unknown-fails-all"),
        pytest.param({"batchItemFailures": [{"itemIdentifier": ""}]}, 0, id="empty-fails-all"),
    ],
)
def test_emulator_deletes_by_aws_rules(rt: Runtime, tasks: SimpleNamespace, response: Any, deleted: int) -> None:
    for i in range(3):
        tasks.work.delay(f"ok-{i}")
    mapping = mapping_with(rt, lambda event, context: response)

    mapping.poll()

    assert rt.queued() == 3 - deleted


def test_emulator_keeps_only_the_listed_record(rt: Runtime, tasks: SimpleNamespace) -> None:
    for i in range(3):
        tasks.work.delay(f"ok-{i}")
    seen: list[str] = []

    def keep_first(event: dict[str, Any], context: Any) -> Any:
        seen.extend(record["messageId"] for record in event["Records"])
        return {"batchItemFailures": [{"itemIdentifier": seen[0]}]}

    mapping = mapping_with(rt, keep_first)

    mapping.poll()

    assert rt.queued() == 1
    assert mapping.history[-1].kept == {seen[0]}
