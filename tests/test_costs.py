"""What one successful task costs on the default path, in AWS requests: counted, not timed.

The figures here are the ones the docs quote: 2 DynamoDB writes and no reads per task (claim, finish),
and 3 SQS requests per batch of 10 (SendMessageBatch, ReceiveMessage, DeleteMessageBatch).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

from squall import Squall, TaskContext
from squall.local import Runtime

if TYPE_CHECKING:
    from conftest import ApiCalls

BATCH = 10


def without_receives(calls: ApiCalls) -> dict[str, int]:
    """Request counts less ReceiveMessage: polling is the event source's cost, shared by whatever it finds."""
    return {op: n for op, n in calls.by_operation().items() if op != "ReceiveMessage"}


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    @app.task
    def charge(order_id: str, amount: int) -> dict[str, object]:
        return {"order_id": order_id, "charged": amount}

    return SimpleNamespace(charge=charge)


def test_successful_task_costs_two_writes_and_under_a_third_of_an_sqs_request(
    rt: Runtime, app: Squall, tasks: SimpleNamespace, calls: ApiCalls
) -> None:
    # Given ten tasks sent in one batch
    results = app.send_batch([tasks.charge.s(f"o-{i}", i) for i in range(BATCH)])

    # When the worker receives them in one invocation (as Lambda's event source does, batch size 10)
    assert rt.poll() == BATCH

    # Then each task cost exactly two DynamoDB writes (claim, finish) and no read
    assert calls.by_operation(service="dynamodb") == {"UpdateItem": 2 * BATCH}

    # And three SQS requests for the ten of them: send, receive and delete, one batch each
    assert calls.by_operation(service="sqs") == {"SendMessageBatch": 1, "ReceiveMessage": 1, "DeleteMessageBatch": 1}
    assert calls.count(service="sqs") / BATCH <= 0.35

    # (and they did succeed)
    assert [r.get(timeout=0)["charged"] for r in results] == list(range(BATCH))


def test_task_sent_alone_costs_one_send(rt: Runtime, tasks: SimpleNamespace, calls: ApiCalls) -> None:
    tasks.charge.delay("o-1", 1)

    rt.poll()

    assert without_receives(calls) == {"SendMessage": 1, "UpdateItem": 2, "DeleteMessageBatch": 1}


def test_retry_costs_one_write_and_one_new_message(rt: Runtime, app: Squall, calls: ApiCalls) -> None:
    @app.task(bind=True)
    def once_more(task: TaskContext) -> str:
        if task.request.attempt == 1:
            raise ConnectionError("later")
        return "ok"

    once_more.delay()
    rt.poll()

    # claim + retry record, the next attempt's message, and the failed delivery deleted with its batch
    assert without_receives(calls) == {"SendMessage": 2, "UpdateItem": 2, "DeleteMessageBatch": 1}
