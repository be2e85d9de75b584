"""HTTP-target deliveries priced beside hosted HTTP queues (Google Cloud Tasks, Upstash QStash).

A delivery (``app.send_http``) is an ordinary task: one SendMessage from the producer, the worker's usual
receives, deletes and DynamoDB writes, and Lambda duration while the worker waits for the target's answer
(``http_ms``, an assumption). Retries add what a retry of any task adds. The peers are priced from their list
prices in ``squall/deploy/prices.json``: Cloud Tasks bills each API call and each push delivery attempt (one
CreateTask, then one operation per attempt, each up to 32 KB); QStash bills messages, and its pricing FAQ
counts each delivery attempt (a retry included) as one message. No free tier is applied to any of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from squall.deploy import cost

#: Cloud Tasks operations besides the delivery attempts: the CreateTask call.
CLOUD_TASKS_CREATE_OPERATIONS = 1
#: Milliseconds a delivery holds the worker by default: the target's answer time (an assumption).
DEFAULT_HTTP_MS = 100.0


@dataclass(frozen=True, slots=True)
class Row:
    """One offering's figures per million deliveries."""

    name: str
    requests: float
    write_units: float
    usd: float
    includes: str


def comparison(
    *,
    http_ms: float = DEFAULT_HTTP_MS,
    retries: float = 0.0,
    memory_mb: int = 128,
    arch: cost.Arch = "arm64",
    batch_size: int = 10,
    usage: cost.Usage | None = None,
    prices: cost.PriceTable | None = None,
) -> list[Row]:
    """Squall (the model, or a measured ``usage``) beside Cloud Tasks and QStash, per million deliveries."""
    p = prices or cost.load_prices()
    million = 1_000_000
    if usage is None:
        # send_http sends each delivery with its own SendMessage (producer_batch 1).
        workload = cost.Workload(
            duration_ms=http_ms,
            retries=retries,
            memory_mb=memory_mb,
            arch=arch,
            batch_size=batch_size,
            producer_batch=1,
        )
        usage = cost.usage(workload)
    per_million = cost.price_per_million(usage, arch, p)
    attempts = 1 + retries
    cloud_tasks_operations = CLOUD_TASKS_CREATE_OPERATIONS + attempts
    return [
        Row(
            "Squall HTTP targets (your AWS account)",
            usage.sqs_requests * million,
            usage.dynamodb_write_units * million,
            sum(per_million.values()),
            "queue, retries, DLQ, result store, and the worker's compute while it waits for the target",
        ),
        Row(
            "Google Cloud Tasks (HTTP target)",
            cloud_tasks_operations * million,
            0.0,
            cloud_tasks_operations * million * p["cloud_tasks_operation"].each,
            f"{CLOUD_TASKS_CREATE_OPERATIONS} CreateTask + {attempts:g} push attempt(s); no result store",
        ),
        Row(
            "Upstash QStash (pay as you go)",
            attempts * million,
            0.0,
            attempts * million * p["qstash_message"].each,
            f"{attempts:g} message(s): one per delivery attempt; no result store",
        ),
    ]


def render(rows: list[Row], *, http_ms: float, retries: float, as_of: str) -> str:
    """The comparison as plain text (``squall cost --http-targets``)."""
    lines = [
        f"HTTP-target deliveries: per million, {http_ms:g} ms waiting for the target, {retries:g} retries on average",
        "",
        f"{'':<42}{'requests':>14}{'write units':>14}{'dollars':>12}",
    ]
    for row in rows:
        lines.append(f"{row.name:<42}{row.requests:>14,.0f}{row.write_units:>14,.0f}{'$' + f'{row.usd:,.2f}':>12}")
    lines += ["", *(f"{row.name}: {row.includes}." for row in rows)]
    lines.append(
        f"List prices ({as_of}) from squall/deploy/prices.json, no free tier. Squall's requests are SQS requests; "
        "the peers' are their billed operations or messages."
    )
    return "\n".join(lines)
