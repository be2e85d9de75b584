"""One batch of I/O-bound tasks run one record after another vs. ``Queue(batch_concurrency=10)`` (issue 19, target 3).

Both ways run in the local runtime (moto in process) through the real worker handler, with the same batch of
10 records each time. A botocore ``before-send`` hook on the app's DynamoDB client sleeps
``limits.DYNAMODB_REQUEST_LATENCY_MS`` per request (moto answers in microseconds; DynamoDB in the same Region
takes milliseconds), and each task waits ``TASK_IO_SECONDS`` (``time.sleep``: its own call to some service).
Lambda bills an invocation's wall time, rounded up to the millisecond, so billed duration and its dollars follow
from the measured wall time; SQS and DynamoDB requests are the same both ways.
"""

from __future__ import annotations

import math
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

from bench.report import Table, money, ratio
from squall import Queue, Squall, limits, local
from squall.deploy.cost import load_prices
from squall.deploy.workers import WorkerSizing
from squall.handler import make_handler
from squall.local.esm import FakeLambdaContext, to_event_record
from squall.sending.producer import prepare

#: The records of one batch (the ESM's default batch size) and the concurrent queue's batch_concurrency.
BATCH = limits.DEFAULT_BATCH_SIZE
#: Each task's own I/O, in seconds (an assumed downstream call: an HTTP API or a database query).
TASK_IO_SECONDS = 0.050
#: The billed architecture, as the stack deploys the worker.
ARCH = "arm64"


@dataclass(frozen=True)
class BatchTimes:
    """Median wall seconds per batch of ``BATCH`` records, each way, and DynamoDB requests per record; and the
    process's CPU seconds per batch (the worker's and moto's, which in AWS runs elsewhere), both ways together."""

    batches: int
    sequential_seconds: float
    concurrent_seconds: float
    dynamodb_per_record: float
    cpu_seconds: float = 0.0


def measure(batches: int = 20) -> BatchTimes:
    """Run ``batches`` batches each way (after one warm-up batch each), alternating; the medians."""
    app = Squall(f"bench-{uuid.uuid4().hex[:8]}", queues=["seq", Queue("wide", batch_concurrency=BATCH)])

    @app.task(name="bench.io")
    def io(index: int) -> int:
        time.sleep(TASK_IO_SECONDS)
        return index

    calls = [0]

    def latency(**_: Any) -> None:
        calls[0] += 1
        time.sleep(limits.DYNAMODB_REQUEST_LATENCY_MS / 1000)

    timings: dict[str, list[float]] = {"seq": [], "wide": []}
    with local.run(app) as rt:
        handler = make_handler(rt.app)
        rt.app.dynamodb.meta.events.register("before-send.dynamodb", latency)

        def one(queue: str) -> float:
            address = rt.settings.queue(queue)
            entries = [{"Id": str(i), "MessageBody": prepare(io.s(i), queue=queue).body} for i in range(BATCH)]
            rt.app.sqs.send_message_batch(QueueUrl=address.url, Entries=entries)  # type: ignore[arg-type]
            received = rt.app.sqs.receive_message(
                QueueUrl=address.url, MaxNumberOfMessages=BATCH, MessageSystemAttributeNames=["All"]
            )["Messages"]
            event = {"Records": [to_event_record(m, address.arn, rt.settings.region) for m in received]}
            context = FakeLambdaContext("worker", WorkerSizing().timeout, WorkerSizing().memory, rt.settings.region)
            started = time.perf_counter()
            response = handler(event, context)
            took = time.perf_counter() - started
            if len(received) != BATCH or response["batchItemFailures"]:
                raise RuntimeError(f"a bench batch did not run whole: {len(received)} records, {response}")
            rt.app.sqs.delete_message_batch(
                QueueUrl=address.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)],
            )
            return took

        one("seq"), one("wide")  # warm-up: clients, the thread pool
        calls[0] = 0
        cpu = time.process_time()
        for _ in range(batches):
            for queue in ("seq", "wide"):
                timings[queue].append(one(queue))
        cpu = time.process_time() - cpu
    return BatchTimes(
        batches,
        statistics.median(timings["seq"]),
        statistics.median(timings["wide"]),
        calls[0] / (2 * batches * BATCH),
        cpu / (2 * batches),
    )


def lambda_per_million(batch_seconds: float, memory_mb: int = WorkerSizing().memory) -> tuple[float, float]:
    """Billed milliseconds per invocation, and the worker's Lambda dollars (requests and duration) per million
    tasks, for batches of ``BATCH`` that take ``batch_seconds`` each."""
    prices = load_prices()
    billed_ms = math.ceil(batch_seconds * 1000)
    invocations = 1_000_000 / BATCH
    per_invocation = (
        prices["lambda_request"].each + billed_ms / 1000 * memory_mb / 1024 * prices[f"lambda_gb_second_{ARCH}"].each
    )
    return billed_ms, invocations * per_invocation


def tables(result: BatchTimes) -> list[Table]:
    """The comparison as one table."""
    r = result
    rows = []
    for label, seconds in (
        ("one record after another (default)", r.sequential_seconds),
        (f"batch_concurrency={BATCH}", r.concurrent_seconds),
    ):
        billed, dollars = lambda_per_million(seconds)
        rows.append(
            [
                label,
                f"{seconds * 1000:,.0f} ms",
                f"{billed:,.0f} ms",
                money(dollars),
                ratio(seconds / r.sequential_seconds),
            ]
        )
    return [
        Table(
            f"A batch of {BATCH} I/O-bound tasks: batch_concurrency={BATCH} vs. sequential (target ≤ 0.3x)",
            [
                "way",
                "wall time per batch (median)",
                "billed per invocation",
                "Lambda $ per million tasks",
                "vs. sequential",
            ],
            rows,
            [
                f"Injected: {limits.DYNAMODB_REQUEST_LATENCY_MS:g} ms per DynamoDB request (a botocore before-send "
                f"hook; {r.dynamodb_per_record:g} requests per record) and {TASK_IO_SECONDS * 1000:.0f} ms of the "
                "task's own I/O (time.sleep); moto in process answers the rest.",
                f"Median of {r.batches} batches each way, alternating, after a warm-up batch each. Lambda $ is "
                f"requests plus duration at {WorkerSizing().memory} MB {ARCH}, billed per started millisecond; "
                "SQS and DynamoDB requests are the same both ways.",
                f"The process spent {r.cpu_seconds * 1000:,.0f} ms of CPU per batch (mean of both ways): the worker, "
                "botocore and moto (DynamoDB and SQS answered in process), all under one GIL. That is the floor the "
                "concurrent batch reaches here; in AWS moto's share runs on DynamoDB's side, not the function's.",
                "Records of a FIFO queue always run one after another (a FIFO queue refuses batch_concurrency).",
            ],
        )
    ]
