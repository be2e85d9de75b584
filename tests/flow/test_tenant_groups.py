"""A tenant's MessageGroupId as SQS keeps it on a fair (standard) queue: read back from the queue with
ReceiveMessage, on a lane's queue too, on the retry's new message, and where EventBridge Scheduler carries the
message instead (it sets none: the documented gap, the envelope keeps the tenant for later messages)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from squall import Queue, Squall, State, local
from squall.local import Runtime


@pytest.fixture
def rt() -> Iterator[Runtime]:
    app = Squall("tenants", queues=["default", Queue("emails", lanes=("high", "low"))])
    failed: list[str] = []

    @app.task(name="tests.tenants.work", tenant_key="tenant", max_retries=2, retry_backoff=1, retry_jitter=False)
    def work(tenant: str, fail: bool = False) -> str:
        if fail and tenant not in failed:
            failed.append(tenant)
            raise ConnectionError("once")
        return tenant

    @app.task(name="tests.tenants.mail", queue="emails", tenant_key="tenant")
    def mail(tenant: str) -> str:
        return tenant

    with local.run(app) as runtime:
        yield runtime


def groups_on(rt: Runtime, queue: str) -> list[str | None]:
    """The MessageGroupId of every message visible on ``queue``, as ReceiveMessage returns it (left there)."""
    response = rt.app.sqs.receive_message(
        QueueUrl=rt.settings.queue(queue).url,
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["MessageGroupId"],
        VisibilityTimeout=0,
    )
    return [m.get("Attributes", {}).get("MessageGroupId") for m in response.get("Messages", [])]


def test_the_tenant_is_the_message_group_id_sqs_returns_on_a_standard_queue(rt: Runtime) -> None:
    rt.app.get_task("tests.tenants.work").delay("acme")
    assert groups_on(rt, "default") == ["acme"]  # moto keeps it on a standard queue, as SQS does


def test_a_lanes_message_carries_its_tenant_too(rt: Runtime) -> None:
    rt.app.get_task("tests.tenants.mail").apply_async(("globex",), priority="high")
    assert groups_on(rt, "emails:high") == ["globex"]
    assert groups_on(rt, "emails:low") == []


def test_the_retrys_new_message_keeps_the_tenant(rt: Runtime) -> None:
    result = rt.app.get_task("tests.tenants.work").delay("initech", True)

    rt.poll("default")  # the first attempt fails: RETRY, and its next attempt is a new message
    assert result.state is State.RETRY
    rt.advance(2)  # its backoff (1 s, no jitter)
    assert groups_on(rt, "default") == ["initech"]

    rt.drain()
    assert result.state is State.SUCCESS


def test_a_long_delay_is_scheduled_without_a_group_and_its_envelope_keeps_the_tenant(rt: Runtime) -> None:
    result = rt.app.get_task("tests.tenants.work").apply_async(("umbrella", True), countdown=2_000)

    (schedule,) = rt.app.scheduler.list_schedules(GroupName=rt.settings.schedule_group)["Schedules"]
    target: dict[str, Any] = rt.app.scheduler.get_schedule(Name=schedule["Name"], GroupName=rt.settings.schedule_group)[
        "Target"
    ]
    # EventBridge Scheduler documents SqsParameters.MessageGroupId for FIFO targets only: none is set.
    assert "SqsParameters" not in target
    assert json.loads(target["Input"])["options"]["message_group_id"] == "umbrella"

    rt.advance(2_001)  # the schedule fires; the firing's message has no group
    assert groups_on(rt, "default") == [None]
    rt.poll("default")  # the attempt fails: its retry is an SQS message, with the tenant again
    rt.advance(2)
    assert groups_on(rt, "default") == ["umbrella"]
    rt.drain()
    assert result.state is State.SUCCESS
