"""Offloaded objects are never deleted by Squall: they expire by the bucket's lifecycle, after the last message
or record that can refer to them (squall.offload.bucket), so every copy SQS may still deliver decodes."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest

from squall import Squall, State
from squall.local import Runtime
from squall.offload import bucket

MIB = 1024 * 1024


def big(n_bytes: int, seed: str = "x") -> str:
    block = hashlib.sha256(seed.encode()).hexdigest()
    return (block * (n_bytes // len(block) + 1))[:n_bytes]


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    runs: list[int] = []

    @app.task(name="measure")
    def measure(text: str) -> int:
        runs.append(len(text))
        return len(text)

    return SimpleNamespace(measure=measure, runs=runs)


def keys(rt: Runtime) -> list[str]:
    listing = rt.app.client("s3").list_objects_v2(Bucket=rt.settings.payload_bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


def test_a_finished_tasks_arguments_stay_so_a_late_duplicate_still_decodes_and_is_not_run_again(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    # Given an offloaded task whose message we keep a copy of, as SQS may deliver it twice
    result = tasks.measure.delay(big(2 * MIB))
    url = rt.settings.queue("default").url
    (message,) = rt.app.sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    rt.drain()
    assert result.state is State.SUCCESS
    (key,) = keys(rt)

    # When the copy is delivered after the task finished
    rt.app.sqs.send_message(QueueUrl=url, MessageBody=message["Body"])
    rt.drain()

    # Then its object is still there, the copy decoded and was acknowledged unrun: no DEAD, no second run
    assert keys(rt) == [key]
    assert result.state is State.SUCCESS
    assert tasks.runs == [2 * MIB]
    assert rt.queued() == 0


def test_an_object_outlives_every_message_and_record_that_can_refer_to_it(app: Squall) -> None:
    day = 86_400
    queued = 28 * day  # 14 days in a task queue and the intake queue, then 14 in a DLQ

    assert bucket.expiration_days(bucket.ARGUMENTS_LIFETIME_SECONDS) * day >= 15 * 60 + queued
    assert bucket.expiration_days(bucket.DELAYED_ARGUMENTS_LIFETIME_SECONDS) * day >= (2 * 366 + 1) * day + queued
    assert bucket.results_lifetime_seconds(app) >= 7 * day


def test_the_results_rule_follows_the_longest_result_ttl_of_the_apps_tasks(app: Squall) -> None:
    @app.task(name="kept", result_ttl=30 * 86_400)
    def kept() -> None:
        return None

    assert bucket.results_lifetime_seconds(app) == 30 * 86_400
    assert bucket.expiration_days(bucket.results_lifetime_seconds(app)) == 30
