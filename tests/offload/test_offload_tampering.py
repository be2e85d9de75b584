"""An offloaded argument or result that was changed or removed is refused with a reason, never run or dropped."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from squall import Squall, State
from squall.errors import DecodeError
from squall.local import Runtime
from squall.ops import dlq

MIB = 1024 * 1024


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    runs: list[int] = []

    @app.task(name="measure")
    def measure(text: str) -> int:
        runs.append(len(text))
        return len(text)

    @app.task(name="report")
    def report() -> str:
        return "r" * (2 * MIB)

    return SimpleNamespace(measure=measure, report=report, runs=runs)


def only_object(rt: Runtime, prefix: str) -> str:
    listing = rt.app.client("s3").list_objects_v2(Bucket=rt.settings.payload_bucket, Prefix=prefix)
    (item,) = listing["Contents"]
    return str(item["Key"])


def send_and_change(rt: Runtime, tasks: SimpleNamespace, change: str) -> str:
    """Send a 2 MiB argument, then replace or delete its object before the worker runs; return the task id."""
    result = tasks.measure.delay("a" * (2 * MIB))
    s3, bucket = rt.app.client("s3"), rt.settings.payload_bucket
    key = only_object(rt, "args/")
    if change == "tamper":
        s3.put_object(Bucket=bucket, Key=key, Body=b'{"args":["' + b"b" * (2 * MIB) + b'"],"kwargs":{}}')
    else:
        s3.delete_object(Bucket=bucket, Key=key)
    rt.drain()
    return str(result.id)


def test_a_tampered_argument_object_makes_the_task_dead_with_the_mismatch_named(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    task_id = send_and_change(rt, tasks, "tamper")

    record = rt.app.store.get(task_id)
    assert record is not None
    assert record.state is State.DEAD
    assert "sha256 mismatch in the offloaded arguments" in (record.reason or "")
    assert tasks.runs == []
    (letter,) = dlq.peek(rt.app, limit=None)
    assert "sha256 mismatch in the offloaded arguments" in (letter.reason or "")


def test_a_missing_argument_object_makes_the_task_dead_with_a_reason(rt: Runtime, tasks: SimpleNamespace) -> None:
    task_id = send_and_change(rt, tasks, "delete")

    record = rt.app.store.get(task_id)
    assert record is not None
    assert record.state is State.DEAD
    assert "offloaded arguments missing" in (record.reason or "")
    assert tasks.runs == []


def test_a_tampered_result_object_is_refused_when_read(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.report.delay()
    rt.drain()
    key = only_object(rt, "results/")
    rt.app.client("s3").put_object(Bucket=rt.settings.payload_bucket, Key=key, Body=b'"forged"')

    with pytest.raises(DecodeError, match="sha256 mismatch in the offloaded result"):
        result.get()
    record = rt.app.store.get(result.id)
    assert record is not None
    assert record.state is State.SUCCESS


def test_an_s3_error_reading_an_argument_fails_the_delivery_not_the_task(
    rt: Runtime, tasks: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given S3 that answers the worker's first GetObject with SlowDown (after the SDK's own retries)
    refusals = {"left": 1}
    s3 = rt.app.client("s3")
    original = s3.get_object

    def slow_down(**kwargs: object) -> object:
        if refusals["left"]:
            refusals["left"] -= 1
            raise ClientError(
                {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "GetObject"
            )
        return original(**kwargs)

    monkeypatch.setattr(s3, "get_object", slow_down)
    result = tasks.measure.delay("a" * (2 * MIB))

    # When the worker receives it, then SQS delivers it again
    rt.drain()

    # Then that delivery failed and the next one ran it: not DEAD for an error that was S3's
    assert refusals["left"] == 0
    assert result.state is State.SUCCESS
    assert tasks.runs == [2 * MIB]
