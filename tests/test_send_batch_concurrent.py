"""``send_many`` sends a large batch's SendMessageBatch calls concurrently: every task once, results in order,
failures named per task, 10 tasks a request, and one call at a time on a FIFO queue."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from squall import Squall, State, local
from squall.errors import EnqueueError
from squall.limits import SQS_MAX_BATCH_ENTRIES
from squall.sending.producer import SEND_BATCH_CONCURRENCY, Outgoing, send_many
from squall.wire.envelope import Envelope


def outgoing(task_id: str) -> Outgoing:
    envelope = Envelope(id=task_id, task="t", args=(), kwargs={}, queue="q", created=0.0)
    return Outgoing(envelope, envelope.encode(), 0)


class CountingSQS:
    """A thread-safe stub: records every entry it is sent; refuses the bodies named in ``refuse`` (sender's
    fault); raises for a batch holding a body in ``explode``; with ``meet``, each call first waits for that many
    calls to be in flight at once (a barrier: it breaks, and the call fails, if the calls run one at a time)."""

    def __init__(self, refuse: frozenset[str] = frozenset(), explode: frozenset[str] = frozenset(), meet: int = 0):
        self.lock = threading.Lock()
        self.entries: list[str] = []
        self.threads: set[int] = set()
        self.calls = 0
        self.refuse, self.explode = refuse, explode
        self.barrier = threading.Barrier(meet, timeout=30) if meet else None

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if self.barrier is not None:
            self.barrier.wait()
        ids = [Envelope.decode(e["MessageBody"]).id for e in Entries]
        with self.lock:
            self.calls += 1
            self.threads.add(threading.get_ident())
            if self.explode & set(ids):
                raise RuntimeError("connection reset")
            self.entries.extend(ids)
        ok = [{"Id": e["Id"]} for e, i in zip(Entries, ids, strict=True) if i not in self.refuse]
        bad = [{"Id": e["Id"], "Code": "InvalidMessageContents", "SenderFault": True}
               for e, i in zip(Entries, ids, strict=True) if i in self.refuse]  # fmt: skip
        return {"Successful": ok, "Failed": bad}


def test_ten_thousand_tasks_are_each_sent_once_in_a_thousand_requests_with_ids_in_order() -> None:
    ids = [f"t-{i}" for i in range(10_000)]
    sqs = CountingSQS()

    sent = send_many(lambda: sqs, "url", [outgoing(i) for i in ids])  # type: ignore[arg-type, return-value]

    assert sent == ids
    assert sorted(sqs.entries) == sorted(ids)  # each exactly once
    assert len(sqs.threads) > 1
    assert sqs.calls == len(ids) // SQS_MAX_BATCH_ENTRIES  # 0.1 requests per task


def test_batches_are_in_flight_at_the_same_time() -> None:
    # Every call waits until SEND_BATCH_CONCURRENCY calls are in flight together: one at a time, it would fail.
    sqs = CountingSQS(meet=SEND_BATCH_CONCURRENCY)
    ids = [f"t-{i}" for i in range(SEND_BATCH_CONCURRENCY * SQS_MAX_BATCH_ENTRIES)]

    assert send_many(lambda: sqs, "url", [outgoing(i) for i in ids]) == ids  # type: ignore[arg-type, return-value]


def test_failures_are_named_per_task_and_the_rest_are_sent() -> None:
    ids = [f"t-{i}" for i in range(100)]
    sqs = CountingSQS(refuse=frozenset({"t-3", "t-57"}), explode=frozenset({"t-42"}))

    with pytest.raises(EnqueueError) as failed:
        send_many(lambda: sqs, "url", [outgoing(i) for i in ids])  # type: ignore[arg-type, return-value]

    lost = {f"t-{i}" for i in range(40, 50)}  # the batch whose call raised
    assert set(failed.value.failed) == {"t-3", "t-57"} | lost
    assert failed.value.failed["t-3"].startswith("InvalidMessageContents")
    assert "connection reset" in failed.value.failed["t-42"]
    assert list(failed.value.sent) == [i for i in ids if i not in failed.value.failed]


def test_a_fifo_queue_sends_its_batches_one_after_another_in_the_callers_thread() -> None:
    sqs = CountingSQS()
    ids = [f"t-{i}" for i in range(30)]

    sent = send_many(lambda: sqs, "q.fifo", [outgoing(i) for i in ids])  # type: ignore[arg-type, return-value]

    assert sent == ids
    assert sqs.entries == ids  # sent in order: a message group keeps its order
    assert sqs.threads == {threading.get_ident()}


def test_send_batch_through_the_local_runtime_sends_every_task_once() -> None:
    app = Squall("sendmany")

    @app.task
    def echo(i: int) -> int:
        return i

    with local.run(app) as rt:
        results = app.send_batch([echo.s(i) for i in range(30)])
        rt.drain()
        assert [r.get() for r in results] == list(range(30))
        assert all(r.state is State.SUCCESS for r in results)
