"""The scale model: a burst of N tasks drained by one queue's event source, step by step under AWS's scaling rules.

Every figure comes from ``squall.limits`` (each with its source there; the URLs are in :data:`RULES`) or from the
cost model (``squall.deploy.cost``: writes per task, prices). The model is a fluid one: each second the event
source may keep ``allowed(t)`` invocations in flight (its initial figure, plus its scale-up rate a minute, up to
its ceiling), bounded by the account's concurrency and the queue's in-flight limit; those invocations finish
``concurrency * batch / invocation_seconds`` tasks a second, unless DynamoDB's write throughput (a new on-demand
table's initial figure, growing to double a peak held for 30 minutes; the listing index's shards for retries)
allows fewer. ``tests/scale`` checks the same rules against ``rt.run_concurrently`` at small scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from squall import limits
from squall.deploy import cost
from squall.state import schema

Mode = Literal["standard", "provisioned"]

#: Where each rule comes from (the figures themselves live in squall.limits).
RULES: dict[str, str] = {
    "ESM scale-up (standard): 5 at once, +300 a minute, at most 1,250": (
        "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html"
    ),
    "ESM provisioned mode: +1,000 a minute, at most 20,000, 10 invocations a poller, 2-200 pollers by default": (
        "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html; "
        "https://docs.aws.amazon.com/lambda/latest/api/API_ProvisionedPollerConfig.html"
    ),
    "FIFO queue: at most one batch per active message group in flight": (
        "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html"
    ),
    "MaximumConcurrency 2-1,000 per event source": (
        "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html"
    ),
    "Account concurrency 1,000 per Region (default quota)": (
        "https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html"
    ),
    "SQS in flight: 120,000 standard, 20,000 FIFO": (
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html"
    ),
    "DynamoDB on-demand: a new table 4,000 writes/s and 12,000 reads/s; double the previous peak within 30 min": (
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html"
    ),
    "DynamoDB warm throughput (pre-warming; billed when raised)": (
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput.html"
    ),
    "DynamoDB partition: 1,000 WCU and 3,000 RCU a second": (
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"
    ),
    "DynamoDB table quota: 40,000 units a second each way (default, adjustable)": (
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html"
    ),
}


@dataclass(frozen=True, slots=True)
class Burst:
    """A burst of tasks, all visible at t = 0, and how the queue's event source and the table are set up."""

    tasks: int = 1_000_000
    batch_size: int = limits.DEFAULT_BATCH_SIZE
    #: Billed milliseconds per record; an invocation runs its records one after another.
    record_ms: float = cost.DEFAULT_DURATION_MS
    mode: Mode = "standard"
    #: ScalingConfig.MaximumConcurrency (standard mode; None: no cap, the event source's own ceiling).
    max_concurrency: int | None = limits.DEFAULT_MAX_CONCURRENCY
    #: Provisioned mode's MaximumPollers and MinimumPollers (AWS's defaults: 200 pollers reach 2,000 invocations;
    #: 2,000 pollers reach the mode's 20,000 ceiling).
    max_pollers: int = limits.ESM_PROVISIONED_DEFAULT_MAX_POLLERS
    min_pollers: int = limits.ESM_PROVISIONED_DEFAULT_MIN_POLLERS
    account_concurrency: int = limits.LAMBDA_DEFAULT_REGIONAL_CONCURRENCY
    fifo: bool = False
    #: A FIFO queue's active message groups: its event source runs at most one batch per group at a time.
    message_groups: int = 1
    #: Retries per task (each a failed attempt: one more delivery, writes and listing-index units).
    retries: float = 0.0
    #: The table's warm write throughput, units a second (None: a new on-demand table's initial figure).
    warm_writes: float | None = None
    #: Seconds between steps.
    step: float = 1.0

    @property
    def invocation_seconds(self) -> float:
        """How long one full invocation runs."""
        return self.batch_size * self.record_ms / 1000

    @property
    def writes_per_task(self) -> float:
        """Table write units per task (claim + finish, and per retry; the index's are apart), from the cost model."""
        used = cost.usage(cost.Workload(retries=self.retries, batch_size=self.batch_size))
        return used.dynamodb_writes * cost.WRITE_UNITS_PER_WRITE

    @property
    def index_units_per_task(self) -> float:
        """Listing-index write units per task: only retries enter it."""
        return cost.INDEX_WRITE_UNITS_PER_RETRY * self.retries


def allowed(burst: Burst, elapsed: float) -> int:
    """Invocations the event source may have in flight ``elapsed`` seconds after messages appeared."""
    if burst.mode == "provisioned":
        per = limits.ESM_PROVISIONED_INVOCATIONS_PER_POLLER
        start = burst.min_pollers * per
        ceiling = min(burst.max_pollers * per, limits.ESM_PROVISIONED_MAX_CONCURRENCY)
        rate = limits.ESM_PROVISIONED_SCALE_UP_PER_MINUTE
    else:
        start = limits.ESM_INITIAL_CONCURRENCY
        ceiling = limits.ESM_UNCAPPED_CONCURRENCY if burst.max_concurrency is None else burst.max_concurrency
        rate = limits.ESM_SCALE_UP_PER_MINUTE
    return min(ceiling, start + int(rate * elapsed / 60))


def in_flight_limit(burst: Burst) -> int:
    """Invocations the queue's in-flight limit leaves room for (each holds its batch in flight)."""
    most = limits.SQS_MAX_IN_FLIGHT_FIFO if burst.fifo else limits.SQS_MAX_IN_FLIGHT_STANDARD
    return most // burst.batch_size


class WriteCapacity:
    """An on-demand table's write units a second: its warm figure, then double any peak held for 30 minutes."""

    def __init__(self, warm: float | None) -> None:
        self.base = limits.DYNAMODB_ON_DEMAND_INITIAL_WRITES_PER_SECOND if warm is None else warm
        self.history: list[tuple[float, float]] = []  # (time, units a second used)

    def at(self, now: float) -> float:
        """Units a second the table takes at ``now`` without throttling (capped by the table quota)."""
        window = limits.DYNAMODB_ON_DEMAND_PEAK_WINDOW_SECONDS
        settled = max((used for when, used in self.history if when <= now - window), default=0.0)
        grown = max(self.base, limits.DYNAMODB_ON_DEMAND_PEAK_MULTIPLE * settled)
        return min(grown, max(self.base, float(limits.DYNAMODB_TABLE_DEFAULT_MAX_UNITS_PER_SECOND)))

    def use(self, now: float, units: float) -> None:
        """Record the rate used at ``now``."""
        if not self.history or units > self.history[-1][1]:
            self.history.append((now, units))


LIMITS = ("event source scale-up", "event source ceiling", "account concurrency", "SQS in flight",
          "FIFO message groups", "DynamoDB writes", "listing index")  # fmt: skip


@dataclass(slots=True)
class Drain:
    """What the model predicts for a burst: the drain curve, peak concurrency, what bound it, and the cost."""

    burst: Burst
    seconds: float = 0.0
    peak_concurrency: int = 0
    #: (seconds, tasks left, invocations in flight), one point a step.
    curve: list[tuple[float, float, int]] = field(default_factory=list)
    #: Seconds each limit was the one that bound the drain rate.
    bound_by: dict[str, float] = field(default_factory=dict)
    #: The first limit that throttles (refuses work, rather than not asking for it), and when.
    first_throttle: tuple[str, float] | None = None
    #: Lambda GB-seconds spent by invocations waiting on throttled writes (SDK retries), beyond the tasks' own.
    throttled_gb_seconds: float = 0.0
    peak_writes_per_second: float = 0.0

    @property
    def minutes(self) -> float:
        """Time to drain, in minutes."""
        return self.seconds / 60

    @property
    def bottleneck(self) -> str:
        """The limit that bound the drain for longest."""
        return max(self.bound_by, key=lambda k: self.bound_by[k]) if self.bound_by else "none"

    def estimate(self, memory_mb: int = 128) -> cost.Estimate:
        """The burst's cost from the cost model (its tasks as one month's), before any throttling."""
        b = self.burst
        return cost.estimate(
            cost.Workload(
                tasks_per_month=b.tasks,
                duration_ms=b.record_ms,
                batch_size=b.batch_size,
                retries=b.retries,
                memory_mb=memory_mb,
            )
        )

    def throttled_usd(self, memory_mb: int = 128) -> float:
        """Dollars of the Lambda time spent waiting on throttled writes (arm64)."""
        price = cost.load_prices()["lambda_gb_second_arm64"].each
        return self.throttled_gb_seconds * memory_mb / 128 * price


def drain(burst: Burst, *, memory_mb: int = 128, max_seconds: float = 30 * 24 * 3600) -> Drain:
    """Step the burst through the rules until every task is done; see the module."""
    b, result = burst, Drain(burst)
    capacity = WriteCapacity(b.warm_writes)
    index_ceiling = min(
        schema.INDEX_SHARDS * limits.DYNAMODB_ITEM_WRITES_PER_SECOND,
        limits.DYNAMODB_ON_DEMAND_INITIAL_WRITES_PER_SECOND,
    )
    deliveries = 1 + b.retries
    per_invocation = b.invocation_seconds
    left, now = float(b.tasks), 0.0
    while left > 1e-9:
        if now > max_seconds:
            raise RuntimeError(f"the burst did not drain in {max_seconds:.0f} s; check the burst's settings")
        ramp = allowed(b, now)
        bounds = {
            "event source scale-up" if ramp < _ceiling(b) else "event source ceiling": ramp,
            "account concurrency": b.account_concurrency,
            "SQS in flight": in_flight_limit(b),
        }
        if b.fifo:
            bounds["FIFO message groups"] = b.message_groups
        limit_name = min(bounds, key=lambda k: bounds[k])
        concurrency = bounds[limit_name]
        if b.account_concurrency < ramp and result.first_throttle is None:
            result.first_throttle = ("account concurrency", now)
        # Tasks a second the invocations would finish, then what the table (and the index) take.
        lambda_rate = concurrency * b.batch_size / per_invocation / deliveries
        write_rate = capacity.at(now) / b.writes_per_task
        index_rate = index_ceiling / b.index_units_per_task if b.index_units_per_task else math.inf
        rates = {limit_name: lambda_rate, "DynamoDB writes": write_rate, "listing index": index_rate}
        bound = min(rates, key=lambda k: rates[k])
        rate = rates[bound]
        if bound in ("DynamoDB writes", "listing index") and result.first_throttle is None:
            result.first_throttle = (bound, now)
        done = min(left, rate * b.step)
        busy = min(concurrency, math.ceil(left * deliveries / b.batch_size))
        used = done / b.step * b.writes_per_task
        capacity.use(now, used)
        if bound != limit_name:  # invocations in flight, waiting on throttled writes, beyond the tasks' own time
            useful = done * deliveries / b.batch_size * per_invocation / b.step
            result.throttled_gb_seconds += max(0.0, busy - useful) * b.step * memory_mb / 1024
        result.bound_by[bound] = result.bound_by.get(bound, 0.0) + b.step * min(1.0, done / (rate * b.step))
        result.peak_concurrency = max(result.peak_concurrency, busy)
        result.peak_writes_per_second = max(result.peak_writes_per_second, used)
        result.curve.append((now, left, busy))
        left -= done
        now += b.step
    # The last step finished early: count only the part of it used.
    result.seconds = now - b.step + (result.curve[-1][1] / rate if rate else 0.0)
    result.curve.append((result.seconds, 0.0, 0))
    return result


def _ceiling(b: Burst) -> int:
    """The event source's own ceiling: what it allows once fully scaled up."""
    return allowed(b, 1e12)
