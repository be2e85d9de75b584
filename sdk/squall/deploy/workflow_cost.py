"""The cost model of workflows: what a chain step, a chord member and a chord's own part cost, and the extra
they cost over the same tasks sent on their own.

A workflow's tasks are tasks: each is claimed and finished like any other, and retries and progress reports
cost what :func:`squall.deploy.cost.usage` says. What a workflow changes is counted below, and measured by
``bench/workflows.py`` (``python -m bench --only workflows``); ``tests/test_cost_workflows.py`` runs it small
and checks the measured counts equal what this model says, so the two cannot drift apart:

* a **chain step** is sent alone (the first by the producer, each next one by the worker that ran the step
  before it), so it never shares a send request; it shares receives and deletes only with other traffic;
* a **chord member** is sent with the other members, 10 a request, and counts itself finished with one
  ``ADD`` on its shard's item (:mod:`squall.state.groups`); the body reads it back (BatchGetItem);
* a **chord** adds its body (a task whose message arrives alone) and one ``ADD`` per shard of
  :data:`~squall.limits.CHORD_SHARD_SIZE` members on the group's item.

A group without a body costs what its members cost as tasks sent with ``send_batch``: nothing extra.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from squall import limits
from squall.deploy import cost

# --- Counts, as measured by bench/workflows.py ------------------------------------------------------------

#: Send requests per chain step: each step is one SendMessageBatch of one entry (the producer's for the first
#: step, the worker's for each next one, sent before the step before it is acknowledged).
SENDS_PER_CHAIN_LINK = 1
#: Send requests per chord member: the members go together, 10 a SendMessageBatch, however the producer
#: sends its other tasks.
MEMBERS_PER_SEND = limits.SQS_MAX_BATCH_ENTRIES
#: Writes per chord member beyond its claim and finish: the string-set ADD of its index on its shard's item.
#: One write unit: a shard item holds at most 64 short indices and stays far under 1 KB (measured: 226 B).
COUNTER_WRITES_PER_MEMBER = 1
#: Writes per shard of a chord: the member that fills a shard ADDs the shard's number to the group's item.
COUNTER_WRITES_PER_SHARD = 1
#: Read units per chord member: the body's worker reads every member's record with consistent BatchGetItem
#: reads, each item rounded up to 4 KB on its own (one unit for a result that keeps the record under 4 KB).
BODY_READ_UNITS_PER_MEMBER = 1
#: Records in the body's batch: its message is sent once the last member has finished, so it arrives alone
#: (one receive, one delete, one invocation of its own).
BODY_BATCH = 1


@dataclass(frozen=True, slots=True)
class Workflows:
    """A month of workflow tasks, counted apart from the workload's ``tasks_per_month``."""

    #: Tasks a month that run as steps of chains (a chain of 5 steps is 5).
    chain_links: float = 0.0
    #: Tasks a month that run as members of chords.
    chord_members: float = 0.0
    #: Chords a month (each has one body, a task too).
    chords: float = 0.0
    #: Records per invocation that chain steps get; None: the workload's batch size. Each chain's next step is
    #: sent alone, so batches fill only when many chains advance at once: 1 is a chain running on its own.
    chain_batch: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.chain_links < 0 or self.chord_members < 0 or self.chords < 0:
            problems.append("chain_links, chord_members and chords must be >= 0")
        elif self.chord_members and not self.chords:
            problems.append("chord_members needs chords (how many chords the members belong to) above 0")
        elif self.chords and not self.chord_members:
            problems.append("chords needs chord_members above 0")
        elif self.chords and not 1 <= self.chord_members / self.chords <= limits.MAX_GROUP_MEMBERS:
            problems.append(
                f"chord_members / chords must be 1-{limits.MAX_GROUP_MEMBERS:,} members a chord, "
                f"got {self.chord_members / self.chords:,.1f}"
            )
        if self.chain_batch is not None and not 1 <= self.chain_batch <= limits.ESM_MAX_BATCH_SIZE:
            problems.append(f"chain_batch must be 1-{limits.ESM_MAX_BATCH_SIZE}, got {self.chain_batch}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def members_per_chord(self) -> float:
        """Average chord size (0 without chords)."""
        return self.chord_members / self.chords if self.chords else 0.0

    @property
    def any(self) -> bool:
        """Whether there is any workflow task to price."""
        return bool(self.chain_links or self.chord_members)


def combined(*parts: tuple[float, cost.Usage]) -> cost.Usage:
    """The sum of ``weight * usage`` over ``parts``."""
    names = [f.name for f in fields(cost.Usage)]
    return cost.Usage(**{name: sum(weight * getattr(u, name) for weight, u in parts) for name in names})


def _extra(**counts: float) -> cost.Usage:
    values = {f.name: 0.0 for f in fields(cost.Usage)}
    values.update(counts)
    return cost.Usage(**values)


def task_usage(workload: cost.Workload, *, producer_batch: int, batch_size: int | None = None) -> cost.Usage:
    """A task of ``workload`` sent straight to its queue, ``producer_batch`` to a send request and delivered in
    batches of ``batch_size`` (default: the workload's); workflow steps are never delayed or periodic."""
    return cost.usage(
        replace(
            workload,
            delayed_fraction=0.0,
            periodic_fraction=0.0,
            producer_batch=producer_batch,
            batch_size=batch_size or workload.batch_size,
        )
    )


def link_usage(workload: cost.Workload, chain_batch: int | None = None) -> cost.Usage:
    """One chain step: a task sent on its own, delivered in batches of ``chain_batch`` (default: the workload's)."""
    return task_usage(workload, producer_batch=SENDS_PER_CHAIN_LINK, batch_size=chain_batch)


def member_usage(workload: cost.Workload) -> cost.Usage:
    """One chord member: a task sent with the others, its count on the shard item, and the body's read of it."""
    counter = _extra(
        dynamodb_writes=COUNTER_WRITES_PER_MEMBER,
        dynamodb_write_units=COUNTER_WRITES_PER_MEMBER * cost.WRITE_UNITS_PER_WRITE,
        dynamodb_read_units=BODY_READ_UNITS_PER_MEMBER,
    )
    return combined((1, task_usage(workload, producer_batch=MEMBERS_PER_SEND)), (1, counter))


def shards(members: float) -> int:
    """Shard items a chord of ``members`` counts on (the last one may be partly filled)."""
    return math.ceil(members / limits.CHORD_SHARD_SIZE)


def batch_get_requests(members: float) -> int:
    """BatchGetItem requests the body's worker makes to read ``members`` records (requests are not billed)."""
    return math.ceil(members / limits.DYNAMODB_BATCH_GET_KEYS)


def chord_usage(workload: cost.Workload, members: float) -> cost.Usage:
    """A chord's own part, whatever its members cost: the body (a task whose message arrives alone) and the
    shard numbers ADDed on the group's item."""
    body = task_usage(workload, producer_batch=1, batch_size=BODY_BATCH)
    writes = COUNTER_WRITES_PER_SHARD * shards(members)
    return combined((1, body), (1, _extra(dynamodb_writes=writes, dynamodb_write_units=writes)))


def chord_total_usage(workload: cost.Workload, members: int) -> cost.Usage:
    """Everything one chord of ``members`` uses (not divided by anything)."""
    return combined((members, member_usage(workload)), (1, chord_usage(workload, members)))


def read_units(size: int) -> int:
    """Read units of one item read consistently: 1 per started 4 KB (minimum 1)."""
    return max(1, math.ceil(size / limits.DYNAMODB_READ_UNIT_BYTES))


@dataclass(frozen=True, slots=True)
class WorkflowEstimate:
    """The modelled cost of a month of workflows: per unit, per month, and the extra over plain tasks."""

    workflows: Workflows
    workload: cost.Workload
    #: What one chain step, one chord member and one chord's own part use.
    usage: dict[str, cost.Usage]
    #: Dollars per million of each unit (chain step, chord member, chord), by service.
    per_million: dict[str, dict[str, float]]
    #: Dollars a month, by service, for every workflow task.
    monthly: dict[str, float]
    #: Dollars a month the same tasks would cost sent on their own with ``send_batch`` (full batches).
    as_plain_tasks_monthly: float
    as_of: str

    @property
    def total_monthly(self) -> float:
        """Dollars a month for the workflows' tasks, everything included."""
        return sum(self.monthly.values())

    @property
    def extra_monthly(self) -> float:
        """What the workflows cost beyond their tasks sent on their own."""
        return self.total_monthly - self.as_plain_tasks_monthly

    def per_million_total(self, unit: str) -> float:
        """Dollars per million of ``unit`` ("chain_link", "chord_member", "chord"), every service summed."""
        return sum(self.per_million[unit].values())

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for ``squall cost --json``."""
        return {
            "workflows": asdict(self.workflows),
            "members_per_chord": self.workflows.members_per_chord,
            "usage": {unit: {**asdict(u), "sqs_requests": u.sqs_requests} for unit, u in self.usage.items()},
            "per_million_usd": {
                unit: {**lines, "total": self.per_million_total(unit)} for unit, lines in self.per_million.items()
            },
            "monthly_usd": {**self.monthly, "total": self.total_monthly},
            "as_plain_tasks_monthly_usd": self.as_plain_tasks_monthly,
            "extra_monthly_usd": self.extra_monthly,
            "prices_as_of": self.as_of,
        }


def estimate(
    workflows: Workflows, workload: cost.Workload | None = None, prices: cost.PriceTable | None = None
) -> WorkflowEstimate:
    """Model ``workflows``' cost with the workload's settings (memory, duration, batch size, retries...)."""
    w, p = workload or cost.Workload(), prices or cost.load_prices()
    members = workflows.members_per_chord
    usage = {
        "chain_link": link_usage(w, workflows.chain_batch),
        "chord_member": member_usage(w),
        "chord": chord_usage(w, members),
    }
    per_million = {unit: cost.price_per_million(u, w.arch, p) for unit, u in usage.items()}
    counts = {"chain_link": workflows.chain_links, "chord_member": workflows.chord_members, "chord": workflows.chords}
    million = 1_000_000
    monthly = {
        line: sum(per_million[unit][line] * count / million for unit, count in counts.items())
        for line in per_million["chain_link"]
    }
    tasks = workflows.chain_links + workflows.chord_members + workflows.chords  # a chord's body is a task too
    plain = sum(cost.price_per_million(task_usage(w, producer_batch=MEMBERS_PER_SEND), w.arch, p).values())
    return WorkflowEstimate(workflows, w, usage, per_million, monthly, plain * tasks / million, p.as_of)
