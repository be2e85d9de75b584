"""Benchmark 5: enqueueing, ``app.send_batch`` vs. a plain boto3 ``send_message`` loop of the same bodies.

Both send to the same queue on a moto server on 127.0.0.1 (real HTTP on loopback); requests are counted
twice, by botocore hooks on the clients and by the server, and must agree. Squall's time includes encoding
and checking each task; the loop sends bodies Squall encoded beforehand, so it does the least possible.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace

import boto3

from bench.counting import RequestCounter, counted_moto_server
from bench.report import Table, num, ratio
from squall import Squall
from squall.deploy.topology import describe
from squall.local.provision import provision
from squall.local.runtime import DUMMY_CREDENTIALS
from squall.sending import producer

REGION = "us-east-1"
#: Tasks sent into a new, empty queue at a time (see ``measure``).
CHUNK = 500


@dataclass
class Enqueue:
    """Requests and seconds for N tasks, both ways."""

    n: int
    squall_requests: int
    squall_server_requests: int
    squall_seconds: float
    loop_requests: int
    loop_server_requests: int
    loop_seconds: float


def measure(n: int = 10_000) -> Enqueue:
    """Send ``n`` no-op tasks both ways and count and time them."""
    # A new name each run: moto's server keeps its state for the life of the process.
    app = Squall(f"bench-enqueue-{uuid.uuid4().hex[:8]}")

    @app.task(name="bench.noop")
    def noop(i: int) -> int:
        return i

    session = boto3.Session(
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )
    with counted_moto_server() as (endpoint, server):
        settings = provision(describe(app), session, REGION, endpoint)
        app.configure(settings, session)
        url = settings.queue("default").url
        admin = session.client("sqs", region_name=REGION, endpoint_url=endpoint)  # uncounted: purges
        squall_counter = RequestCounter()
        plain = session.client("sqs", region_name=REGION, endpoint_url=endpoint)
        loop_counter = RequestCounter()
        loop_counter.attach(plain)
        plain.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])  # warm the client up
        loop_counter.operations.clear()
        signatures = [noop.s(i) for i in range(n)]
        bodies = [producer.prepare(s, task_id=None, queue=None, countdown=None, eta=None).body for s in signatures]
        squall_seconds = loop_seconds = 0.0
        squall_server = loop_server = 0
        # moto's SendMessage slows down as its queue grows (it does work per message held), so both sides
        # send in chunks, each into a new empty queue; they alternate chunk by chunk; only sending is timed.
        address = settings.queue("default")
        for start in range(0, n, CHUNK):
            fresh = admin.create_queue(QueueName=f"squall-{app.name}-{start}")["QueueUrl"]
            app.configure(replace(settings, queues={"default": replace(address, url=fresh)}), session)
            squall_counter.attach(app.sqs)  # configure() dropped the cached client: count the new one
            server.reset()
            started = time.perf_counter()
            app.send_batch(signatures[start : start + CHUNK])
            squall_seconds += time.perf_counter() - started
            squall_server += server.service_calls("sqs")
            fresh = admin.create_queue(QueueName=f"squall-{app.name}-loop-{start}")["QueueUrl"]
            server.reset()
            started = time.perf_counter()
            for body in bodies[start : start + CHUNK]:
                plain.send_message(QueueUrl=fresh, MessageBody=body)
            loop_seconds += time.perf_counter() - started
            loop_server += server.service_calls("sqs")
    return Enqueue(
        n,
        squall_counter.service_calls("sqs"),
        squall_server,
        squall_seconds,
        loop_counter.service_calls("sqs"),
        loop_server,
        loop_seconds,
    )


def tables(result: Enqueue) -> list[Table]:
    """The enqueue table."""
    r = result
    rows = [
        [
            "app.send_batch",
            f"{r.squall_requests:,} ({r.squall_server_requests:,} at the server)",
            num(r.squall_requests / r.n),
            f"{r.squall_seconds:.2f} s",
            f"{r.n / r.squall_seconds:,.0f}",
        ],
        [
            "boto3 send_message loop",
            f"{r.loop_requests:,} ({r.loop_server_requests:,} at the server)",
            num(r.loop_requests / r.n),
            f"{r.loop_seconds:.2f} s",
            f"{r.n / r.loop_seconds:,.0f}",
        ],
    ]
    return [
        Table(
            f"Enqueue {r.n:,} tasks to moto on 127.0.0.1 (target ≤ 0.11 requests per task)",
            ["how", "SQS requests", "requests per task", "wall time", "tasks per second"],
            rows,
            notes=[
                f"Wall-time ratio send_batch / loop: {ratio(r.squall_seconds / r.loop_seconds)} "
                f"({ratio(r.loop_seconds / r.squall_seconds)} faster). send_batch's time includes checking "
                "each call against the task's signature and encoding its envelope; the loop sends bodies "
                f"encoded beforehand. Both send {CHUNK} at a time, each chunk into a new empty queue "
                "(moto's SendMessage slows as its queue fills). The wall times are moto's: it spends milliseconds "
                "per message server-side, which a batch does not save, so the ratio understates what batching "
                "saves against SQS, where the round trip dominates.",
            ],
        )
    ]
