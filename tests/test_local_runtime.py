"""The local runtime: real-shaped events, batch sizes, a clock that only moves when told, and a clean exit."""

from __future__ import annotations

import hashlib
import os
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from squall import Queue, Settings, Squall, State, TaskContext, clock, local
from squall.clock import FakeClock, SystemClock
from squall.local import DrainError, Runtime
from squall.local.esm import EventSourceMapping


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    @app.task
    def add(a: int, b: int) -> int:
        return a + b

    @app.task(bind=True, max_retries=900)
    def forever(task: TaskContext) -> None:
        raise task.retry(countdown=3_600)

    return SimpleNamespace(add=add, forever=forever)


def capture_events(rt: Runtime, queue: str = "default") -> tuple[EventSourceMapping, list[dict[str, Any]]]:
    """An event source on ``queue`` that records each event and reports full success."""
    events: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        events.append(event)
        return {"batchItemFailures": []}

    mapping = EventSourceMapping(
        rt.topology.queue(queue), rt.settings.queue(queue), lambda: rt.app.sqs, handler, rt.settings.region, 60.0, 256
    )
    return mapping, events


# --- the events the handler receives ---------------------------------------------------------------------


def test_records_have_the_shape_lambda_delivers(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given
    sent_at = rt.clock.now()
    tasks.add.delay(1, 2)
    mapping, events = capture_events(rt)

    # When
    mapping.poll()

    # Then
    ((record,),) = [event["Records"] for event in events]
    assert set(record) == {
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes",
        "md5OfBody", "eventSource", "eventSourceARN", "awsRegion",
    }  # fmt: skip
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == rt.settings.queue("default").arn
    assert record["awsRegion"] == rt.settings.region
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()  # noqa: S324 - SQS's checksum
    attributes = record["attributes"]
    assert attributes["ApproximateReceiveCount"] == "1"
    assert int(attributes["SentTimestamp"]) == pytest.approx(sent_at * 1000, abs=1000)
    assert "ApproximateFirstReceiveTimestamp" in attributes
    assert "SenderId" in attributes


def test_message_attributes_reach_the_handler_in_lambdas_shape(rt: Runtime, tasks: SimpleNamespace) -> None:
    rt.app.sqs.send_message(
        QueueUrl=rt.settings.queue("default").url,
        MessageBody="{}",
        MessageAttributes={
            "trace": {"DataType": "String", "StringValue": "abc"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    mapping, events = capture_events(rt)

    mapping.poll()

    attributes = events[0]["Records"][0]["messageAttributes"]
    assert attributes["trace"]["stringValue"] == "abc"
    assert attributes["trace"]["dataType"] == "String"
    assert attributes["blob"]["binaryValue"] == "AAE="
    assert attributes["blob"]["dataType"] == "Binary"


def test_event_source_receives_up_to_its_batch_size(rt: Runtime, app: Squall, tasks: SimpleNamespace) -> None:
    app.send_batch([tasks.add.s(i, i) for i in range(25)])
    mapping, events = capture_events(rt)

    while mapping.poll():
        pass

    assert [len(event["Records"]) for event in events] == [10, 10, 5]


def test_each_queue_is_polled_with_its_own_batch_size() -> None:
    app = Squall("test-batches", queues=[Queue("default"), Queue("reports", batch_size=3)])

    @app.task(queue="reports")
    def report(n: int) -> int:
        return n

    with local.run(app) as rt:
        app.send_batch([report.s(i) for i in range(7)])
        rt.drain()

        assert [len(i.message_ids) for i in rt.invocations] == [3, 3, 1]
        assert {i.queue for i in rt.invocations} == {"reports"}


# --- the clock -------------------------------------------------------------------------------------------


def test_drain_fast_forwards_over_delays(rt: Runtime, tasks: SimpleNamespace) -> None:
    start = rt.clock.now()
    result = tasks.add.apply_async((1, 2), countdown=900)

    handled = rt.drain()

    assert handled == 1
    assert result.get(timeout=0) == 3
    assert rt.clock.now() == pytest.approx(start + 900, abs=0.01)


def test_advance_moves_the_clock_without_running_anything(rt: Runtime, tasks: SimpleNamespace) -> None:
    start = rt.clock.now()
    result = tasks.add.delay(1, 2)

    rt.advance(minutes=2)

    assert rt.clock.now() == pytest.approx(start + 120, abs=0.01)
    assert result.state is State.PENDING
    assert rt.queued() == 1


def test_the_runtime_clock_is_squalls_clock(rt: Runtime) -> None:
    assert isinstance(rt.clock, FakeClock)
    assert clock.current() is rt.clock
    assert clock.now() == rt.clock.now()


def test_drain_gives_up_on_a_task_that_never_finishes(rt: Runtime, tasks: SimpleNamespace) -> None:
    tasks.forever.delay()

    with pytest.raises(DrainError, match="still pending"):
        rt.drain(horizon=6 * 3_600)


def test_drain_gives_up_after_its_invocation_budget(rt: Runtime, app: Squall, tasks: SimpleNamespace) -> None:
    app.send_batch([tasks.add.s(i, i) for i in range(30)])

    with pytest.raises(DrainError, match="invocations"):
        rt.drain(max_invocations=1)


def test_drain_of_an_empty_queue_returns_at_once(rt: Runtime) -> None:
    start = rt.clock.now()

    assert rt.drain() == 0
    assert rt.clock.now() == start


def test_poll_of_an_empty_queue_invokes_nothing(rt: Runtime) -> None:
    assert rt.poll() == 0
    assert rt.invocations == []


# --- leaving no trace ------------------------------------------------------------------------------------


def test_app_settings_clock_and_environment_are_restored_on_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an app pinned to settings of its own, in an environment without credentials
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    own = Settings(app="test-restore", region="eu-west-1", table="somewhere", queues={})
    app = Squall("test-restore", settings=own)

    # When it runs locally, it uses the local resources and dummy credentials
    with local.run(app) as rt:
        assert app.settings is rt.settings
        assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"

    # Then afterwards everything is as it was
    assert app.settings is own
    assert isinstance(clock.current(), SystemClock)
    assert "AWS_ACCESS_KEY_ID" not in os.environ


def test_server_mode_serves_the_same_resources_on_loopback() -> None:
    # Given
    app = Squall("test-server")

    @app.task
    def double(x: int) -> int:
        return 2 * x

    with local.run(app, server=True) as rt:
        endpoint = rt.environment["AWS_ENDPOINT_URL"]
        assert endpoint.startswith("http://127.0.0.1:")
        assert "SQUALL_CONFIG" in rt.environment

        # When another client, as another process would, talks to the endpoint
        other = boto3.client("sqs", region_name=rt.settings.region, endpoint_url=endpoint)
        urls = other.list_queues()["QueueUrls"]
        result = double.delay(21)
        rt.drain()

        # Then it sees the app's queues, and the runtime works over HTTP as in process
        assert any(url.endswith(rt.topology.queue("default").queue_name) for url in urls)
        assert result.get(timeout=0) == 42
