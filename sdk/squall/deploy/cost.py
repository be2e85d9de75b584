"""The cost model: AWS requests, write units and dollars per task, per million tasks and per month.

It has two inputs, each kept in one place:

* the per-task counts below: what Squall's producer, the Lambda event source and the worker issue for one
  task. The benchmark suite measures them (``python -m bench``, docs/benchmarks.md) and
  ``tests/test_cost.py`` runs the same scenarios at small N and checks the measured counts equal these
  constants, so the model cannot drift from the code;
* list prices, kept as data with their source and date in ``squall/deploy/prices.json``.

Everything else (Lambda duration, idle polling) is an assumption the caller can change, and says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from squall import limits
from squall.deploy.item_sizes import attribute_value_bytes, item_bytes, number_bytes, write_units

#: Re-exported: the benchmarks and tests count item sizes through the cost model.
__all__ = ["attribute_value_bytes", "item_bytes", "number_bytes", "write_units"]

# --- Per-task counts, as measured by bench/per_task.py -------------------------------------------------

#: Tasks per SendMessageBatch request when sending with ``send_batch`` (measured: 0.1 sends per task).
#: ``delay()`` sends one task per SendMessage request.
SEND_BATCH_ENTRIES = limits.SQS_MAX_BATCH_ENTRIES
#: ReceiveMessage calls the event source makes per batch it delivers; one call returns up to 10 messages
#: (measured: 0.1 receives per task at batch size 10).
RECEIVES_PER_BATCH_OF_10 = 1
#: DeleteMessageBatch calls the event source makes per 10 acknowledged records (measured: 0.1 per task).
DELETES_PER_BATCH_OF_10 = 1
#: DynamoDB writes per delivery that runs: the claim (UpdateItem; also what stops a concurrent duplicate).
CLAIM_WRITES = 1
#: DynamoDB writes per success: SUCCESS with the result (or without, with ignore_result) and the last
#: coalesced progress report. So claim + finish = 2 writes per successful task, with or without a result.
FINISH_WRITES = 1
#: DynamoDB writes per failed attempt that will be retried: FAILURE and RETRY recorded in one UpdateItem.
RETRY_WRITES = 1
#: SendMessage calls per retry: the next attempt is a new message (DelaySeconds = the backoff), and the
#: failed delivery is deleted with the batch like any other (squall.worker.resend). A backoff over 900 s
#: is a one-time schedule instead: one CreateSchedule and one billed Scheduler invocation, which this
#: model prices like a long delay only for the share of retries given as ``long_retry_fraction``.
SENDS_PER_RETRY = 1
#: ChangeMessageVisibility calls per retry: none (retries no longer keep the received message).
VISIBILITY_CHANGES_PER_RETRY = 0
#: On a FIFO queue a retry keeps its message (a new one would reorder its group, squall.worker.fifo): one
#: ChangeMessageVisibility, no send, and the delivery is not deleted (measured: tests/test_fifo_queues.py). When
#: its group has later records in the same batch, one ChangeMessageVisibilityBatch more releases them (not modelled).
FIFO_VISIBILITY_CHANGES_PER_RETRY = 1
#: Progress writes: the first report writes at once, later ones at most once per
#: ``limits.PROGRESS_MIN_INTERVAL_SECONDS``; the last pending report rides along with the final write
#: (measured: 10 reports over one second cost 1 extra write, 3 in all).
PROGRESS_WRITES_FIRST = 1
#: Write units per write: Squall's items stay under 1 KB (measured from the written items; a result
#: large enough to push an item past 1 KB costs one more unit per KB, which this model does not include).
WRITE_UNITS_PER_WRITE = 1
#: Write units the listing index (a sparse global secondary index) costs per retry: the RETRY record
#: enters it and the next claim takes it out, one unit each (measured: 6 units for one retry, 4 of them table
#: writes). A task that succeeds at once never enters the index.
INDEX_WRITE_UNITS_PER_RETRY = 2
#: Write units the listing index costs per task with ``Squall(index_success=True)``: the SUCCESS write puts the
#: task in it (measured: 3 units for a no-op task instead of 2), so the dashboard and ``squall tasks`` list
#: successes without a scan.
INDEX_WRITE_UNITS_PER_SUCCESS = 1
#: Read units the worker spends per task: none (a failed condition returns the item with the error).
WORKER_READ_UNITS = 0
#: Scheduler API calls per task delayed past SQS's 15 minutes: one CreateSchedule (not billed).
SCHEDULER_CALLS_PER_LONG_DELAY = 1
#: DynamoDB writes per long-delayed task when it is sent: the PENDING record with its ETA (``store.hold``),
#: so its AsyncResult shows when it is due. Then claim + finish as for any task: 3 writes in all.
HOLD_WRITES_PER_LONG_DELAY = 1
#: Scheduler invocations (billed) per long-delayed task or periodic firing; each invocation is one
#: SendMessage of one task to the queue, never batched. A periodic firing needs no API call and no hold.
SCHEDULER_INVOCATIONS_PER_FIRING = 1
SENDS_PER_SCHEDULER_INVOCATION = 1
#: Bytes of CloudWatch embedded-metric JSON the worker prints per invocation (measured by
#: bench/overhead.py for a batch of successes; one line per invocation with Powertools Metrics).
EMF_BYTES_PER_INVOCATION = 200
#: Custom metrics the worker and the reconciler can publish (one per outcome: TaskSucceeded, TaskRetried,
#: ..., MovedTaskDead, ..., and TaskErrored), each billed per month once it has been emitted; the model
#: charges all of them, an upper bound (tests/test_cost.py checks the number against squall.handler).
WORKER_CUSTOM_METRICS = 17

# --- Assumptions (not measurable on a laptop; each is a parameter) -----------------------------------

#: Billed Lambda milliseconds per delivery of a no-op task at 128 MB: two in-region DynamoDB UpdateItem
#: round trips (~5-8 ms each) plus Python at 1/14 of a vCPU. An assumption; pass your own measurement.
DEFAULT_DURATION_MS = 20.0
#: The same for an untracked (``track=False``) no-op: no DynamoDB round trip, so Python and the SQS event
#: alone, about a third of it. An assumption too; pass your own measurement.
UNTRACKED_DURATION_MS = 7.0
#: Concurrent pollers an idle SQS event source keeps long-polling, and their wait, in seconds. AWS publishes
#: no request rate: it says the pollers long-poll (their empty receives are billed), and that when traffic is
#: low Lambda scales back to five concurrent batches, and to as few as two only without MaximumConcurrency,
#: which every Squall event source sets (Lambda Developer Guide, "Configuring scaling behavior for SQS event
#: source mappings"). Five pollers each making one 20-s long poll (SQS's longest wait) is that reading, and
#: the commonly observed behaviour: 657,450 receives a month per event source, $0.26 (an assumption).
ESM_IDLE_POLLERS = 5
ESM_LONG_POLL_SECONDS = 20
#: Seconds in an average month (365.25 / 12 days).
SECONDS_PER_MONTH = 2_629_800
#: Bytes per GB as CloudWatch and Lambda bill them (Lambda's GB-second uses 1024 MB).
BYTES_PER_GB = 1024**3

Arch = Literal["arm64", "x86_64"]


@dataclass(frozen=True, slots=True)
class Price:
    """One list price: ``usd`` per ``per`` units, where it comes from and when it was read."""

    key: str
    usd: float
    per: float
    unit: str
    source: str
    as_of: str
    free_per_month: float = 0.0

    @property
    def each(self) -> float:
        """Dollars for one unit."""
        return self.usd / self.per


@dataclass(frozen=True, slots=True)
class PriceTable:
    """The prices in ``squall/deploy/prices.json``."""

    region: str
    currency: str
    as_of: str
    prices: dict[str, Price]

    def __getitem__(self, key: str) -> Price:
        return self.prices[key]


@cache
def load_prices() -> PriceTable:
    """The price table shipped with Squall."""
    doc = json.loads(resources.files("squall.deploy").joinpath("prices.json").read_text("utf-8"))
    return PriceTable(
        region=doc["region"],
        currency=doc["currency"],
        as_of=doc["as_of"],
        prices={key: Price(key=key, **value) for key, value in doc["prices"].items()},
    )


@dataclass(frozen=True, slots=True)
class Workload:
    """A month of tasks: how many, how they run and what they do besides running."""

    tasks_per_month: float = 1_000_000
    #: Worker memory, MB, and architecture.
    memory_mb: int = 128
    arch: Arch = "arm64"
    #: Billed milliseconds per delivery, Squall's own DynamoDB writes included.
    duration_ms: float = DEFAULT_DURATION_MS
    #: Average retries per task (each retry is one more delivery).
    retries: float = 0.0
    #: Progress reports per task, spread evenly over its run.
    progress: float = 0.0
    #: Share of tasks delayed by more than 15 minutes (a one-time EventBridge Scheduler schedule each).
    delayed_fraction: float = 0.0
    #: Share of tasks that are firings of periodic schedules (sent by EventBridge Scheduler).
    periodic_fraction: float = 0.0
    #: Records per worker invocation (the event source's batch size).
    batch_size: int = limits.DEFAULT_BATCH_SIZE
    #: Tasks per send request: 10 with ``send_batch``, 1 with ``delay()``.
    producer_batch: int = SEND_BATCH_ENTRIES
    ignore_result: bool = False
    #: Queues without lanes, each with its own event source polling it (idle polling is per event source).
    queues: int = 1
    #: Priority lanes of the queues declared with lanes (``Queue(lanes=...)``): each lane is an SQS queue with
    #: an event source of its own, so each adds one idle event source; such a queue counts here, not in ``queues``.
    lanes: int = 0
    #: False: ``track=False`` tasks, with no record (no claim, no finish: zero DynamoDB writes of their own).
    tracked: bool = True
    #: Limiter writes per delivery: 1 for a rate limit, 2 for a concurrency limit (take and give back), 3 for
    #: both, in the uncontended case (docs/flow-control.md gives the measured figures under contention).
    limiter_writes: float = 0.0
    #: The tasks' queue is FIFO: SQS requests at the FIFO price, and retries keep their message.
    fifo: bool = False
    #: ``Squall(index_success=True)``: each success enters the listing index.
    index_success: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.tasks_per_month < 0:
            problems.append(f"tasks_per_month must be >= 0, got {self.tasks_per_month}")
        if not 128 <= self.memory_mb <= 10_240:
            problems.append(f"memory_mb must be 128-10240, got {self.memory_mb}")
        if self.arch not in ("arm64", "x86_64"):
            problems.append(f"arch must be arm64 or x86_64, got {self.arch!r}")
        if self.duration_ms < 0 or self.retries < 0 or self.progress < 0:
            problems.append("duration_ms, retries and progress must be >= 0")
        if not 0 <= self.delayed_fraction <= 1 or not 0 <= self.periodic_fraction <= 1:
            problems.append("delayed_fraction and periodic_fraction must be 0-1")
        elif self.delayed_fraction + self.periodic_fraction > 1:
            problems.append("delayed_fraction + periodic_fraction must be at most 1")
        if not 1 <= self.batch_size <= limits.ESM_MAX_BATCH_SIZE:
            problems.append(f"batch_size must be 1-{limits.ESM_MAX_BATCH_SIZE}, got {self.batch_size}")
        if not 1 <= self.producer_batch <= SEND_BATCH_ENTRIES:
            problems.append(f"producer_batch must be 1-{SEND_BATCH_ENTRIES}, got {self.producer_batch}")
        if self.queues < 0 or self.lanes < 0 or self.queues + self.lanes < 1:
            problems.append(f"queues and lanes must be >= 0 with one at least, got {self.queues} and {self.lanes}")
        if self.limiter_writes < 0:
            problems.append(f"limiter_writes must be >= 0, got {self.limiter_writes}")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True, slots=True)
class Usage:
    """What one task uses on average: requests, units and seconds."""

    sqs_send: float
    sqs_receive: float
    sqs_delete: float
    sqs_visibility: float
    dynamodb_writes: float
    dynamodb_write_units: float
    dynamodb_read_units: float
    scheduler_calls: float
    scheduler_invocations: float
    lambda_invocations: float
    lambda_gb_seconds: float
    log_bytes: float

    @property
    def sqs_requests(self) -> float:
        """Every SQS request per task."""
        return self.sqs_send + self.sqs_receive + self.sqs_delete + self.sqs_visibility


def progress_writes(reports: float, duration_ms: float) -> float:
    """Writes that ``reports`` progress reports cost beyond the final write, made at evenly spaced times
    ``0, d, 2d, ...`` with ``d = duration / reports`` (a task that reports, then works a step, and so on).

    Follows the worker's coalescing rule: the first report writes, a later one writes once
    ``PROGRESS_MIN_INTERVAL_SECONDS`` have passed since the last write, and the rest wait for the final write.
    """
    count = round(reports)
    if count <= 0:
        return 0.0
    interval = limits.PROGRESS_MIN_INTERVAL_SECONDS
    step = duration_ms / 1000 / count
    if count > 100_000:  # the simulation would be slow; this bound is reached within one report anyway
        return float(min(count, PROGRESS_WRITES_FIRST + math.floor((count - 1) * step / interval)))
    writes, last = PROGRESS_WRITES_FIRST, 0.0
    for k in range(1, count):
        at = k * step
        if at - last >= interval - 1e-9:
            writes, last = writes + 1, at
    return float(writes)


def usage(workload: Workload) -> Usage:
    """Per-task usage of ``workload``, from the measured counts above."""
    w = workload
    deliveries = 1 + w.retries
    calls_per_batch = math.ceil(w.batch_size / limits.SQS_MAX_BATCH_ENTRIES)
    fired = w.delayed_fraction + w.periodic_fraction
    direct = 1 - fired
    own = (
        CLAIM_WRITES * deliveries
        + FINISH_WRITES
        + RETRY_WRITES * w.retries
        + progress_writes(w.progress, w.duration_ms)
        + HOLD_WRITES_PER_LONG_DELAY * w.delayed_fraction
    )
    writes = (own if w.tracked else 0.0) + w.limiter_writes * deliveries
    invocations = deliveries / w.batch_size
    resends, kept = (0.0, w.retries) if w.fifo else (w.retries, 0.0)
    return Usage(
        sqs_send=direct / w.producer_batch
        + fired * SCHEDULER_INVOCATIONS_PER_FIRING * SENDS_PER_SCHEDULER_INVOCATION
        + SENDS_PER_RETRY * resends,
        sqs_receive=deliveries * RECEIVES_PER_BATCH_OF_10 * calls_per_batch / w.batch_size,
        # Every delivery is deleted: a retried one once its next attempt's message is sent.
        sqs_delete=(deliveries - kept) * DELETES_PER_BATCH_OF_10 * calls_per_batch / w.batch_size,
        sqs_visibility=VISIBILITY_CHANGES_PER_RETRY * resends + FIFO_VISIBILITY_CHANGES_PER_RETRY * kept,
        dynamodb_writes=writes,
        dynamodb_write_units=writes * WRITE_UNITS_PER_WRITE
        + (INDEX_WRITE_UNITS_PER_RETRY * w.retries + INDEX_WRITE_UNITS_PER_SUCCESS * w.index_success) * w.tracked,
        dynamodb_read_units=float(WORKER_READ_UNITS),
        scheduler_calls=w.delayed_fraction * SCHEDULER_CALLS_PER_LONG_DELAY,
        scheduler_invocations=fired * SCHEDULER_INVOCATIONS_PER_FIRING,
        lambda_invocations=invocations,
        lambda_gb_seconds=deliveries * (w.duration_ms / 1000) * (w.memory_mb / 1024),
        log_bytes=invocations * EMF_BYTES_PER_INVOCATION,
    )


@dataclass(frozen=True, slots=True)
class Estimate:
    """A workload's modelled cost: per million tasks and per month, by service."""

    workload: Workload
    usage: Usage
    #: Dollars per million tasks, by line item (marginal list prices, no free tier).
    per_million: dict[str, float]
    #: Dollars per month that do not depend on the task count (idle polling, custom metrics).
    fixed_monthly: dict[str, float]
    #: Dollars per month, by line item: per-task lines times the month's tasks (the Scheduler's free
    #: invocations applied) plus the fixed lines. Other services' free tiers are not applied.
    monthly: dict[str, float]
    as_of: str

    @property
    def total_per_million(self) -> float:
        """Dollars per million tasks, every per-task line summed."""
        return sum(self.per_million.values())

    @property
    def total_monthly(self) -> float:
        """Dollars per month, everything included."""
        return sum(self.monthly.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for ``squall cost --json``."""
        return {
            "workload": asdict(self.workload),
            "usage_per_task": {**asdict(self.usage), "sqs_requests": self.usage.sqs_requests},
            "per_million_tasks_usd": {**self.per_million, "total": self.total_per_million},
            "fixed_monthly_usd": self.fixed_monthly,
            "monthly_usd": {**self.monthly, "total": self.total_monthly},
            "prices_as_of": self.as_of,
        }


def event_sources(workload: Workload) -> int:
    """The event sources that poll even when idle: one per queue and per lane, and the reconciler's (a second one,
    on the FIFO intake queue, when the tasks' queue is FIFO)."""
    return workload.queues + workload.lanes + (2 if workload.fifo else 1)


def idle_receives_per_queue_month() -> float:
    """ReceiveMessage calls an idle event source makes on one queue in a month (an assumption)."""
    return ESM_IDLE_POLLERS * SECONDS_PER_MONTH / ESM_LONG_POLL_SECONDS


def price_per_million(
    u: Usage, arch: Arch = "arm64", prices: PriceTable | None = None, *, fifo: bool = False
) -> dict[str, float]:
    """Dollars per million tasks that each use ``u``, by line item (marginal list prices, no free tier);
    ``fifo``: SQS requests at the FIFO-queue price."""
    p = prices or load_prices()
    million = 1_000_000
    return {
        "sqs": u.sqs_requests * million * p["sqs_fifo_request" if fifo else "sqs_standard_request"].each,
        "dynamodb": (
            u.dynamodb_write_units * p["dynamodb_write_request_unit"].each
            + u.dynamodb_read_units * p["dynamodb_read_request_unit"].each
        )
        * million,
        "lambda_requests": u.lambda_invocations * million * p["lambda_request"].each,
        "lambda_duration": u.lambda_gb_seconds * million * p[f"lambda_gb_second_{arch}"].each,
        "scheduler": u.scheduler_invocations * million * p["scheduler_invocation"].each,
        "cloudwatch_logs": u.log_bytes * million / BYTES_PER_GB * p["cloudwatch_logs_ingested_gb"].each,
    }


def estimate(workload: Workload, prices: PriceTable | None = None) -> Estimate:
    """Model ``workload``'s cost from the measured counts and the price table."""
    p = prices or load_prices()
    u = usage(workload)
    million = 1_000_000
    per_million = price_per_million(u, workload.arch, p, fifo=workload.fifo)
    fixed = {
        # One event source per queue and per lane, and one on each intake queue the reconciler drains.
        "idle_polling": event_sources(workload) * idle_receives_per_queue_month() * p["sqs_standard_request"].each,
        "custom_metrics": WORKER_CUSTOM_METRICS * p["cloudwatch_custom_metric_month"].each,
    }
    tasks = workload.tasks_per_month
    monthly = {key: value * tasks / million for key, value in per_million.items()}
    scheduler = p["scheduler_invocation"]
    billed_invocations = max(0.0, u.scheduler_invocations * tasks - scheduler.free_per_month)
    monthly["scheduler"] = billed_invocations * scheduler.each
    monthly.update(fixed)
    return Estimate(workload, u, per_million, fixed, monthly, p.as_of)
