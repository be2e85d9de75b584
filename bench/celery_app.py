"""The Celery app the Celery peer benchmark runs: a no-op task on Celery's SQS broker and DynamoDB backend.

Imported by the bench process (the producer) and by the ``celery worker`` it starts; both read where moto
listens from ``SQUALL_BENCH_ENDPOINT`` (``http://127.0.0.1:<port>``). Tuned for Celery's best case in
requests: a prefetch of 10 lets one ReceiveMessage fetch 10 messages (SQS's most); remote control, events,
gossip, mingle and heartbeats are off, as Celery's SQS guide advises.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from celery import Celery

#: Names with a per-run suffix: moto's server keeps its state for the life of the bench process.
_RUN = os.environ.get("SQUALL_BENCH_RUN", "0")
QUEUE = f"squall-bench-celery-{_RUN}"
TABLE = f"squall-bench-celery-results-{_RUN}"
#: Messages one ReceiveMessage may fetch: Celery asks for prefetch_multiplier x concurrency (solo: 1).
PREFETCH = int(os.environ.get("SQUALL_BENCH_CELERY_PREFETCH", "10"))

_endpoint = urlsplit(os.environ.get("SQUALL_BENCH_ENDPOINT", "http://127.0.0.1:5000"))

app = Celery("squall_bench")
app.conf.update(
    broker_url=f"sqs://@{_endpoint.hostname}:{_endpoint.port}",
    broker_transport_options={"region": "us-east-1", "is_secure": False, "wait_time_seconds": 10},
    task_default_queue=QUEUE,
    result_backend=f"dynamodb://@us-east-1/{TABLE}",
    dynamodb_endpoint_url=f"http://{_endpoint.hostname}:{_endpoint.port}",
    worker_prefetch_multiplier=PREFETCH,
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    task_send_sent_event=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="bench.noop")
def noop(i: int) -> int:
    """Return its argument: the no-op task with a result."""
    return i
