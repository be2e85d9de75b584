"""``send_many`` with its SendMessageBatch calls in flight together vs. one after another (issue 19, target 4).

The client is a stub that sleeps ``LATENCY_SECONDS`` per call (a request's round trip to SQS in the same
Region, an assumption; no network) and accepts every entry, so the wall time is the calls' latency and
Squall's own encoding: the same messages, encoded beforehand, go through both ways.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from bench.report import Table, num, ratio
from squall.sending import producer
from squall.wire.envelope import Envelope

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

#: Injected latency of one SendMessageBatch call, in seconds (assumed: an in-Region round trip).
LATENCY_SECONDS = 0.020


class SleepingSQS:
    """Accepts every entry after sleeping ``latency`` seconds; counts calls (thread-safe)."""

    def __init__(self, latency: float) -> None:
        self.latency, self.calls, self.lock = latency, 0, threading.Lock()

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        time.sleep(self.latency)
        with self.lock:
            self.calls += 1
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def _same(sqs: SleepingSQS) -> SQSClient:
    """The stub, typed as the client ``send_many`` asks for (it calls only ``send_message_batch``)."""
    return cast("SQSClient", sqs)


@dataclass(frozen=True)
class SendTimes:
    """Wall seconds and requests for N tasks, one batch at a time and concurrently."""

    n: int
    sequential_seconds: float
    concurrent_seconds: float
    requests: int


def measure(n: int = 10_000, latency: float = LATENCY_SECONDS) -> SendTimes:
    """Send ``n`` tasks both ways through the stub; the concurrent way last, with the same messages."""
    messages = []
    for _ in range(n):
        envelope = Envelope(id=str(uuid.uuid4()), task="bench.noop", args=(), kwargs={}, queue="q", created=0.0)
        messages.append(producer.Outgoing(envelope, envelope.encode(), 0))
    timings, requests = [], 0
    for threads in (1, producer.SEND_BATCH_CONCURRENCY):
        sqs = SleepingSQS(latency)
        started = time.perf_counter()
        sent = producer.send_many(functools.partial(_same, sqs), "url", messages, concurrency=threads)
        timings.append(time.perf_counter() - started)
        assert len(sent) == n
        requests = sqs.calls
    return SendTimes(n, timings[0], timings[1], requests)


def tables(result: SendTimes) -> list[Table]:
    """The comparison as one table."""
    r = result
    return [
        Table(
            f"send_batch of {r.n:,} tasks: concurrent vs. sequential SendMessageBatch calls (target ≤ 0.3x)",
            ["way", "wall time", "requests per task", "vs. sequential"],
            [
                ["one call at a time", f"{r.sequential_seconds:.2f} s", num(r.requests / r.n), ratio(1.0)],
                [
                    f"{producer.SEND_BATCH_CONCURRENCY} calls in flight",
                    f"{r.concurrent_seconds:.2f} s",
                    num(r.requests / r.n),
                    ratio(r.concurrent_seconds / r.sequential_seconds),
                ],
            ],
            [
                f"A stub client sleeps {LATENCY_SECONDS * 1000:.0f} ms per SendMessageBatch call (an assumed "
                "in-Region round trip) and accepts every entry; both ways send the same pre-encoded messages.",
                "A FIFO queue's batches still go one at a time (message-group order).",
            ],
        )
    ]
