"""The scale model's tables, its latency sums and the drain-curve chart (``python -m bench --only scale``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bench import scale
from bench.report import Table, money, pyplot
from squall import limits
from squall.deploy import cost

#: Where the chart goes (committed; docs/benchmarks.md shows it).
CHART = Path(__file__).resolve().parent.parent / "docs" / "scale-drain.png"

#: A long poll waiting on an empty queue returns as soon as a message arrives: no poll interval is added
#: (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-short-and-long-polling.html).
LONG_POLL_ADDED_MS = 0.0
#: Batching settings the latency table sums terms for: (batch size, MaximumBatchingWindowInSeconds). Above 10
#: records a window of at least 1 s is required (squall.limits.ESM_MAX_BATCH_SIZE_WITHOUT_WINDOW).
BATCHING = ((1, 0), (10, 0), (10, 1), (100, 5), (1000, 20))

SCENARIOS: tuple[tuple[str, scale.Burst], ...] = (
    ("default queue (MaximumConcurrency 10), new table", scale.Burst()),
    ("no cap, new table", scale.Burst(max_concurrency=None)),
    ("no cap, warm throughput 40,000 writes/s", scale.Burst(max_concurrency=None, warm_writes=40_000)),
    ("provisioned mode (2,000 pollers), warm 40,000, account 20,000",
     scale.Burst(mode="provisioned", max_pollers=2000, warm_writes=40_000, account_concurrency=20_000)),
    ("no cap, new table, 1 retry per task", scale.Burst(max_concurrency=None, retries=1.0)),
)  # fmt: skip


def run(sizes: Sequence[int] = (1_000_000, 10_000_000)) -> list[tuple[str, scale.Drain]]:
    """Drain every scenario at every size."""
    return [(label, scale.drain(replace(b, tasks=n))) for n in sizes for label, b in SCENARIOS]


def tables(drains: Sequence[tuple[str, scale.Drain]]) -> list[Table]:
    """The scale model's results, its rules with sources, and the latency sums."""
    rows = []
    for label, d in drains:
        first = f"{d.first_throttle[0]} at {d.first_throttle[1]:.0f} s" if d.first_throttle else "nothing throttles"
        total = d.estimate().total_per_million * d.burst.tasks / 1_000_000
        rows.append(
            [
                f"{d.burst.tasks:,}: {label}",
                f"{d.minutes:,.1f} min",
                f"{d.peak_concurrency:,}",
                d.bottleneck,
                first,
                f"{d.peak_writes_per_second:,.0f}",
                money(total),
                money(d.throttled_usd()),
            ]
        )
    result = Table(
        "Scale model: a burst drained by one queue (modelled from documented scaling rules)",
        [
            "burst",
            "time to drain",
            "peak concurrency",
            "bound by (longest)",
            "throttles first",
            "peak writes/s",
            "cost (cost model)",
            "Lambda time waiting on throttled writes",
        ],
        rows,
        [
            f"Batches of {limits.DEFAULT_BATCH_SIZE}, {cost.DEFAULT_DURATION_MS:.0f} ms billed per record, 128 MB "
            "arm64; every task visible at t = 0; 2 table writes per task (4 with a retry, plus 2 listing-index units).",
            "A limit that *bounds* the event source (its scale-up, its ceiling, MaximumConcurrency) leaves messages "
            "waiting on the queue; a limit that *throttles* (DynamoDB, the account's concurrency) makes requests "
            "fail and retry, which costs Lambda time (last column) and, for Lambda throttles, receive counts.",
            "Chart: docs/scale-drain.png (tasks left over time, both sizes).",
        ],
    )
    rules = Table(
        "Scale model: the rules and their sources", ["rule", "source"], [[k, v] for k, v in scale.RULES.items()]
    )
    return [result, rules, latency_table()]


def latency_table(record_ms: float = cost.DEFAULT_DURATION_MS) -> Table:
    """Enqueue-to-start and start-to-result-visible as sums of documented terms, by batching setting."""
    request = limits.DYNAMODB_REQUEST_LATENCY_MS
    rows = []
    for batch, window in BATCHING:
        per_million = cost.estimate(cost.Workload(batch_size=batch)).total_per_million
        waiting = (batch - 1) * record_ms
        rows.append(
            [
                f"batch {batch}, window {window} s",
                f"{window * 1000 + LONG_POLL_ADDED_MS:,.0f} ms + invocation start",
                f"{waiting:,.0f} ms",
                f"task + {2 * request:.0f} ms",
                money(per_million),
            ]
        )
    return Table(
        "Latency: sums of documented figures, by batching setting (modelled)",
        [
            "setting",
            "enqueue to start: window (worst)",
            "behind the batch's earlier records (worst)",
            "start to result visible",
            "$ per million tasks",
        ],
        rows,
        [
            "Enqueue to start: a waiting long poll returns a message as it arrives (no poll interval); a batching "
            "window holds a batch that is not full for up to the window (it also goes when full or at 6 MB), so "
            "the window is paid only under light load: in a burst the batches fill at once.",
            f"Records of a batch run one after another ({record_ms:.0f} ms billed each, the cost model's "
            "assumption): the last waits for the batch's (B - 1) others; running a batch's records concurrently "
            "would remove this term.",
            f"Start to result visible: the task, then the finishing write and the client's read, each one DynamoDB "
            f"request ({request:.0f} ms, the upper end of its documented single-digit milliseconds).",
            "The knob: a larger batch and window mean fewer invocations and receives (cheaper) and a longer wait. "
            "Batches of 10 with no window are Squall's default; batches of 1 buy the last record's wait back for "
            "more receives and invocations.",
            "Invocation start (a warm environment's, or a cold start: see the cold-start table) is not a documented "
            "figure and is left as a term.",
        ],
    )


def chart(drains: Sequence[tuple[str, scale.Drain]], path: Path = CHART) -> Path | None:
    """Plot tasks left against minutes for every scenario (PNG); None without matplotlib (the ``bench`` extra)."""
    plt = pyplot()
    if plt is None:
        return None
    sizes = sorted({d.burst.tasks for _, d in drains})
    fig, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4.5), squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        for label, d in drains:
            if d.burst.tasks == size:
                xs = [t / 60 for t, _, _ in d.curve]
                ax.plot(xs, [left / 1e6 for _, left, _ in d.curve], label=label)
        ax.set_title(f"Drain of {size:,} tasks (scale model)")
        ax.set_xlabel("minutes")
        ax.set_ylabel("tasks left (millions)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
