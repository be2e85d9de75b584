"""The cost of offloaded payloads (squall.offload): S3 requests and storage, beside ``squall cost``'s own model.

Counts per offloaded task are the ones ``bench/offload.py`` measures on the local runtime (and
tests/offload/test_offload_bench.py checks): one PutObject when the task is sent and one more per retry (each
retry's message writes the arguments again, under the same key), one GetObject per delivery; an offloaded
result is one PutObject and one GetObject per read. Storage: an object is kept until its lifecycle rule
expires it (squall.offload.bucket), however soon its task finishes: 29 days for arguments (761 for a task
delayed past 15 minutes, the workload's ``delayed_fraction``), the result rule's days for results. That,
not the requests, is most of the cost of a large payload.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from squall import limits
from squall.deploy import cost
from squall.offload import bucket
from squall.offload.reference import MAX_OFFLOAD_BYTES

#: PutObject requests when an offloaded task is sent, and per retry (measured: bench/offload.py).
PUTS_PER_SEND = 1
PUTS_PER_RETRY = 1
#: GetObject requests per delivery of an offloaded task.
GETS_PER_DELIVERY = 1
#: Requests of an offloaded result: written once, read once per ``AsyncResult.get``.
RESULT_PUTS = 1
RESULT_GETS_PER_READ = 1
_MIB = 1024 * 1024
_SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, slots=True)
class Offload:
    """Which share of a workload's tasks offload their arguments and results, and how large those are."""

    #: Share of tasks whose arguments are offloaded, and their size in MiB.
    fraction: float = 0.0
    mib: float = 5.0
    #: Share of tasks whose result is offloaded, its size in MiB, and ``AsyncResult.get`` calls per result.
    result_fraction: float = 0.0
    result_mib: float = 2.0
    result_reads: float = 1.0
    #: Days a result object is kept (the bucket's results rule: the longest result_ttl, 7 days by default).
    result_days: float = limits.DEFAULT_RESULT_TTL_SECONDS / _SECONDS_PER_DAY

    def __post_init__(self) -> None:
        if not (0 <= self.fraction <= 1 and 0 <= self.result_fraction <= 1):
            raise ValueError("offload_fraction and offload_result_fraction must be 0-1")
        top = MAX_OFFLOAD_BYTES / _MIB
        if not (0 <= self.mib <= top and 0 <= self.result_mib <= top):
            raise ValueError(f"offload_mib and offload_result_mib must be 0-{top:g} (the offload cap)")
        if self.result_reads < 0 or self.result_days < 0:
            raise ValueError("offload_result_reads and offload_result_days must be >= 0")

    @property
    def any(self) -> bool:
        """Whether anything is offloaded."""
        return self.fraction > 0 or self.result_fraction > 0


@dataclass(frozen=True, slots=True)
class OffloadEstimate:
    """Per-task S3 requests and GB-months, and what they cost per million tasks and per month."""

    offload: Offload
    puts: float
    gets: float
    gb_months: float
    per_million: dict[str, float]
    monthly: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for ``squall cost --json``."""
        return {
            "offload": asdict(self.offload),
            "usage_per_task": {"s3_put": self.puts, "s3_get": self.gets, "s3_gb_months": self.gb_months},
            "per_million_tasks_usd": self.per_million,
            "monthly_usd": self.monthly,
        }


def estimate(offload: Offload, workload: cost.Workload, prices: cost.PriceTable | None = None) -> OffloadEstimate:
    """What ``offload`` adds to ``workload``: S3 requests and storage (no free tier)."""
    p = prices or cost.load_prices()
    deliveries = 1 + workload.retries
    puts = (
        offload.fraction * (PUTS_PER_SEND + PUTS_PER_RETRY * workload.retries) + offload.result_fraction * RESULT_PUTS
    )
    gets = offload.fraction * GETS_PER_DELIVERY * deliveries
    gets += offload.result_fraction * RESULT_GETS_PER_READ * offload.result_reads
    month_days = cost.SECONDS_PER_MONTH / _SECONDS_PER_DAY
    # A task delayed past 15 minutes keeps its arguments under args-delayed/, for the longest delay and more.
    delayed = workload.delayed_fraction
    arguments_days = (1 - delayed) * bucket.expiration_days(bucket.ARGUMENTS_LIFETIME_SECONDS) + delayed * (
        bucket.expiration_days(bucket.DELAYED_ARGUMENTS_LIFETIME_SECONDS)
    )
    gb_months = (
        (
            offload.fraction * offload.mib * arguments_days
            + offload.result_fraction * offload.result_mib * offload.result_days
        )
        * _MIB
        / cost.BYTES_PER_GB
        / month_days
    )
    million = 1_000_000
    per_million = {
        "s3_requests": (puts * p["s3_put_request"].each + gets * p["s3_get_request"].each) * million,
        "s3_storage": gb_months * p["s3_storage_gb_month"].each * million,
    }
    monthly = {key: value * workload.tasks_per_month / million for key, value in per_million.items()}
    return OffloadEstimate(offload, puts, gets, gb_months, per_million, monthly)
