"""Derived infrastructure values, and that the local runtime provisions exactly what the description says."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from squall import Queue, Squall, WorkerSizing, local
from squall.deploy.topology import describe, visibility_timeout
from squall.errors import TaskDefinitionError
from squall.limits import MAX_RECEIVE_COUNT, SQS_MAX_RECEIVE_COUNT, SQS_MIN_RECEIVE_COUNT_FOR_LAMBDA
from squall.local import Runtime


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    @app.task(max_retries=7)
    def patient() -> None: ...

    @app.task(max_retries=1)
    def hasty() -> None: ...

    return SimpleNamespace(patient=patient, hasty=hasty)


# --- derived values --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "window", "expected"), [(60, 0, 360), (900, 0, 5_400), (120, 20, 740), (1, 300, 306)]
)
def test_visibility_timeout_is_six_function_timeouts_plus_the_batching_window(
    timeout: int, window: int, expected: int
) -> None:
    assert visibility_timeout(WorkerSizing(timeout=timeout), window) == expected


def test_described_queue_visibility_follows_the_worker_timeout() -> None:
    app_with_window = Squall("test-window", queues=[Queue("bulk", batch_size=100, batching_window=20)])

    queue = describe(app_with_window, WorkerSizing(timeout=120)).queue("bulk")

    assert queue.visibility_timeout == 6 * 120 + 20
    assert queue.batch_size == 100


def test_every_queue_has_the_same_receive_budget_whatever_its_retries(app: Squall, tasks: SimpleNamespace) -> None:
    # The worker enforces retry budgets itself (retries are new messages), so the redrive policy's count no
    # longer follows the tasks: declared, call-time and retry(max_retries=) budgets all fit under it.
    assert describe(app).queue("default").max_receive_count == MAX_RECEIVE_COUNT
    assert SQS_MIN_RECEIVE_COUNT_FOR_LAMBDA <= MAX_RECEIVE_COUNT <= SQS_MAX_RECEIVE_COUNT


def test_redrive_policies_target_the_intake_queue_which_outlives_every_source(app: Squall) -> None:
    topology = describe(app)

    assert topology.intake.name == f"squall-{app.name}-moved"
    assert topology.intake.retention > topology.queue("default").retention
    assert topology.intake.visibility_timeout == 6 * topology.intake.timeout


def test_a_task_whose_expected_duration_cannot_fit_the_worker_timeout_is_refused(app: Squall) -> None:
    @app.task(expected_duration=58)
    def long_one() -> None: ...

    with pytest.raises(TaskDefinitionError, match=r"expected_duration 58 s cannot fit in the worker's 60 s timeout"):
        describe(app, WorkerSizing(timeout=60))
    assert describe(app, WorkerSizing(timeout=120)).sizing.timeout == 120


def test_dead_letter_queue_outlives_its_source(app: Squall) -> None:
    queue = describe(app).queue("default")

    # A standard-queue DLQ keeps the original enqueue time: it must retain messages longer than the source.
    assert queue.dlq_retention > queue.retention


def test_resources_are_named_after_the_app(app: Squall) -> None:
    topology = describe(app)

    assert topology.queue("default").queue_name == f"squall-{app.name}-default"
    assert topology.queue("default").dlq_name == f"squall-{app.name}-default-dlq"
    assert topology.table.name == f"squall-{app.name}-tasks"


# --- the local runtime provisions the description --------------------------------------------------------


def test_local_queues_have_exactly_the_described_attributes(rt: Runtime) -> None:
    # Given the description, and the queues the runtime created from it
    sqs = rt.app.sqs
    for resource in rt.topology.queues:
        address = rt.settings.queue(resource.name)

        # When we read them back from SQS
        source = sqs.get_queue_attributes(QueueUrl=address.url, AttributeNames=["All"])["Attributes"]
        dlq = sqs.get_queue_attributes(QueueUrl=address.dlq_url, AttributeNames=["All"])["Attributes"]

        # Then every described attribute is there, with the described value
        expected = resource.queue_attributes(rt.settings.intake_arn)
        redrive = json.loads(source["RedrivePolicy"])
        assert {
            "deadLetterTargetArn": redrive["deadLetterTargetArn"],
            "maxReceiveCount": int(redrive["maxReceiveCount"]),
        } == json.loads(expected.pop("RedrivePolicy"))
        assert {key: source[key] for key in expected} == expected
        assert {key: dlq[key] for key in resource.dlq_attributes()} == resource.dlq_attributes()
        assert address.max_receive_count == resource.max_receive_count
        assert int(source["VisibilityTimeout"]) == 6 * rt.topology.sizing.timeout + resource.batching_window


def test_local_table_has_the_described_key_and_ttl(rt: Runtime) -> None:
    table = rt.topology.table

    description = rt.app.dynamodb.describe_table(TableName=table.name)["Table"]
    ttl = rt.app.dynamodb.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]

    assert description["KeySchema"] == [{"AttributeName": table.partition_key, "KeyType": "HASH"}]
    assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": table.ttl_attribute}


def test_every_declared_queue_is_provisioned_with_its_polling_settings() -> None:
    app = Squall("test-queues", queues=[Queue("default"), Queue("reports", batch_size=5, max_concurrency=5)])

    with local.run(app, sizing=WorkerSizing(timeout=30)) as rt:
        assert set(rt.settings.queues) == {"default", "reports"}
        reports = rt.topology.queue("reports")
        assert (reports.batch_size, reports.max_concurrency) == (5, 5)
        attributes = rt.app.sqs.get_queue_attributes(
            QueueUrl=rt.settings.queue("reports").url, AttributeNames=["VisibilityTimeout"]
        )["Attributes"]
        assert attributes["VisibilityTimeout"] == "180"
