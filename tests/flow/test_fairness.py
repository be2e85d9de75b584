"""Tenants on a fair queue: the call's message group id (or the task's ``tenant_key`` argument) is the SQS
``MessageGroupId`` of its message, of a batch's entries, and of every retry's new message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from squall import Squall, State, local
from squall.errors import InvalidArguments, TaskDefinitionError
from squall.local import Runtime


@pytest.fixture
def app() -> Squall:
    return Squall("fair", queues=["default"])


@pytest.fixture
def sent(app: Squall) -> Iterator[tuple[Runtime, list[str | None], Any]]:
    failures: list[str] = []

    @app.task(tenant_key="tenant", max_retries=2, retry_backoff=1, retry_jitter=False)
    def work(tenant: str, fail: bool = False) -> str:
        if fail and tenant not in failures:
            failures.append(tenant)
            raise ConnectionError("once")
        return tenant

    with local.run(app) as rt:
        groups: list[str | None] = []

        def record(params: dict[str, Any], **_: Any) -> None:
            entries = params.get("Entries") or [params]
            groups.extend(entry.get("MessageGroupId") for entry in entries)

        for operation in ("SendMessage", "SendMessageBatch"):
            rt.app.sqs.meta.events.register(f"before-parameter-build.sqs.{operation}", record)
        yield rt, groups, work


def test_the_tenant_argument_is_the_message_group_of_the_message_and_of_its_retry(sent: Any) -> None:
    rt, groups, work = sent
    result = work.delay("acme", True)
    queued = rt.app.sqs.receive_message(
        QueueUrl=rt.settings.queue("default").url, MessageSystemAttributeNames=["All"], VisibilityTimeout=0
    )["Messages"]
    assert queued[0]["Attributes"]["MessageGroupId"] == "acme"  # as SQS keeps it on a standard queue

    rt.drain()

    assert result.state is State.SUCCESS
    assert groups == ["acme", "acme"]  # the send, then the retry's new message


def test_a_call_gives_its_own_group_and_a_batch_keeps_each(sent: Any) -> None:
    rt, groups, work = sent
    work.apply_async(("acme",), message_group_id="tenant-7")
    rt.app.send_batch([work.s("a"), work.s("b")])
    rt.drain()
    assert groups == ["tenant-7", "a", "b"]
    with pytest.raises(InvalidArguments, match="option 'message_group_id' must be 1-128 printable ASCII"):
        work.apply_async(("acme",), message_group_id="x" * 129)


def test_a_tenant_key_naming_no_argument_is_refused(app: Squall) -> None:
    with pytest.raises(TaskDefinitionError, match="option 'tenant_key' names argument 'customer'"):

        @app.task(tenant_key="customer")
        def other(tenant: str) -> None: ...
