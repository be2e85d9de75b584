"""The one description of an app's resources, shared by the CDK stack and the local runtime.

Every derived value (visibility timeout, redrive count, retention) is computed here, once, so the
cloud and the laptop cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from squall import config, limits
from squall.config import resource_prefix
from squall.deploy import fifo as fifo_rules
from squall.deploy import lanes as lane_rules
from squall.deploy import workers as worker_rules
from squall.deploy.extensions import (
    ExtensionBucketResource,
    ExtensionTableResource,
    bucket_name,
    extension_resources,
    table_name,
)
from squall.deploy.resources import IntakeResource, TableResource
from squall.deploy.workers import WorkerResource, WorkerSizing, check_fits
from squall.errors import TaskDefinitionError
from squall.scheduler.periodic import ScheduleResource, schedule_resources

if TYPE_CHECKING:
    from squall.protocols import App

#: Re-exported: extensions and the stack name their resources through this module.
__all__ = [
    "ExtensionBucketResource",
    "ExtensionTableResource",
    "IntakeResource",
    "Queue",
    "QueueResource",
    "TableResource",
    "Topology",
    "WorkerResource",
    "WorkerSizing",
    "bucket_name",
    "check_fits",
    "describe",
    "extension_resources",
    "resource_prefix",
    "table_name",
    "visibility_timeout",
]


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue an app declares, with how its worker event source polls it, and its priority lanes if any
    (``Queue("emails", lanes=("high", "low"))``: one SQS queue and event source per lane, squall.deploy.lanes),
    and its own worker function if it declares sizing (``Queue("reports", timeout=900)``, squall.deploy.workers)."""

    name: str
    #: Records per worker invocation (ESM BatchSize); above 10 needs a batching window.
    batch_size: int = limits.DEFAULT_BATCH_SIZE
    #: Seconds the event source may wait to fill a batch (ESM MaximumBatchingWindowInSeconds).
    batching_window: int = limits.DEFAULT_BATCHING_WINDOW_SECONDS
    #: Most concurrent worker invocations for this queue (ESM ScalingConfig.MaximumConcurrency), 2-1000;
    #: ``None`` asks for no cap, which lets the queue take the Region's shared concurrency (limits.py).
    max_concurrency: int | None = limits.DEFAULT_MAX_CONCURRENCY
    #: Priority lanes, highest first: one SQS queue and event source each (squall.deploy.lanes). () for none.
    lanes: tuple[str, ...] = ()
    #: Each lane's MaximumConcurrency; None splits ``max_concurrency`` evenly between the lanes.
    lane_concurrency: Mapping[str, int] | None = None
    #: The lane of a call without ``priority=``; None: the lowest (the last listed).
    default_lane: str | None = None
    #: Records of one batch the worker runs at once (threads; async tasks share the event loop), 1 to
    #: limits.MAX_BATCH_CONCURRENCY; 1 runs them one after another. Not with ``fifo`` (order). docs/flow-control.md.
    batch_concurrency: int = 1
    #: This queue's own worker function (squall.deploy.workers): setting any of these four gives the queue a
    #: function of its own; what is left None is the default worker's (timeout, memory) or Lambda's default.
    #: Timeout in seconds (1-900), memory in MB (128-10240), ephemeral storage (/tmp) in MB (512-10240).
    timeout: int | None = None
    memory: int | None = None
    reserved_concurrency: int | None = None
    ephemeral_storage: int | None = None
    #: A FIFO queue and DLQ: order within a message group, no per-message delays (squall.deploy.fifo).
    fifo: bool = False
    #: Each lane's share as deployed (derived from the three above).
    lane_shares: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lanes = lane_rules.checked_lanes(self.name, self.lanes)
        object.__setattr__(self, "lanes", lanes)
        object.__setattr__(self, "default_lane", lane_rules.checked_default(self.name, lanes, self.default_lane))
        if not self.name.replace("-", "").replace("_", "").isalnum() or len(self.name) > 40:
            raise TaskDefinitionError(f"queue name {self.name!r}: use 1-40 letters, digits, '-' or '_'")
        if not 1 <= self.batch_size <= limits.ESM_MAX_BATCH_SIZE:
            raise TaskDefinitionError(
                f"queue {self.name!r}: batch_size {self.batch_size} must be 1-{limits.ESM_MAX_BATCH_SIZE}"
            )
        if not 0 <= self.batching_window <= limits.ESM_MAX_BATCHING_WINDOW_SECONDS:
            raise TaskDefinitionError(
                f"queue {self.name!r}: batching_window {self.batching_window} must be "
                f"0-{limits.ESM_MAX_BATCHING_WINDOW_SECONDS} seconds"
            )
        if self.batch_size > limits.ESM_MAX_BATCH_SIZE_WITHOUT_WINDOW and self.batching_window < 1:
            raise TaskDefinitionError(
                f"queue {self.name!r}: a batch_size over {limits.ESM_MAX_BATCH_SIZE_WITHOUT_WINDOW} needs a "
                "batching_window of at least 1 second (an SQS event source rule)"
            )
        if self.max_concurrency is not None and not (
            limits.ESM_MIN_MAX_CONCURRENCY <= self.max_concurrency <= limits.ESM_MAX_MAX_CONCURRENCY
        ):
            raise TaskDefinitionError(
                f"queue {self.name!r}: max_concurrency {self.max_concurrency} must be "
                f"{limits.ESM_MIN_MAX_CONCURRENCY}-{limits.ESM_MAX_MAX_CONCURRENCY} (default "
                f"{limits.DEFAULT_MAX_CONCURRENCY}), or None for no cap"
            )
        fifo_rules.check(self.name, self.fifo, lanes, self.batch_size, self.batching_window)
        shares = lane_rules.shares(self.name, lanes, self.lane_concurrency, self.max_concurrency)
        object.__setattr__(self, "lane_shares", shares)
        problem = worker_rules.sizing_problem(
            self.timeout, self.memory, self.reserved_concurrency, self.ephemeral_storage
        )
        if problem is not None:
            raise TaskDefinitionError(f"queue {self.name!r}: {problem}")
        polling = sum(shares.values()) if lanes else self.max_concurrency
        worker_rules.check_reservation(f"queue {self.name!r}", self.reserved_concurrency, polling)
        if not 1 <= self.batch_concurrency <= limits.MAX_BATCH_CONCURRENCY:
            raise TaskDefinitionError(
                f"queue {self.name!r}: batch_concurrency {self.batch_concurrency} must be "
                f"1-{limits.MAX_BATCH_CONCURRENCY} (1, the default, runs a batch's records one after another)"
            )
        if self.batch_concurrency > 1 and self.fifo:
            raise TaskDefinitionError(
                f"queue {self.name!r}: a FIFO queue runs its records in order, one after another: leave "
                f"batch_concurrency at 1 (got {self.batch_concurrency})"
            )


@dataclass(frozen=True, slots=True)
class QueueResource:
    """One deployed queue and its DLQ, with every attribute derived."""

    name: str
    queue_name: str
    dlq_name: str
    visibility_timeout: int
    retention: int
    dlq_retention: int
    max_message_size: int
    max_receive_count: int
    batch_size: int
    batching_window: int
    max_concurrency: int | None
    #: Records of one batch the worker runs at once (the declared queue's).
    batch_concurrency: int = 1
    #: The declared queue this is (``name`` is ``<queue>:<lane>`` for a lane), and the lane, if one.
    queue: str = ""
    lane: str | None = None
    #: A FIFO queue and DLQ (both names end in ``.fifo``).
    fifo: bool = False

    def queue_attributes(self, intake_arn: str, fifo_intake_arn: str | None = None) -> dict[str, str]:
        """SQS CreateQueue attributes of the source queue (the CDK stack sets the same values).

        The redrive target is the app's intake queue (:class:`IntakeResource`): what SQS moves there is recorded
        DEAD with a reason before it reaches the DLQ. A FIFO queue's must be FIFO (SQS Developer Guide, "Using
        dead-letter queues"): the app's FIFO intake queue, ``fifo_intake_arn``, which the reconciler drains too.
        """
        target = intake_arn
        if self.fifo:
            if fifo_intake_arn is None:
                raise ValueError(f"queue {self.name!r} is FIFO: its redrive policy needs the FIFO intake queue's ARN")
            target = fifo_intake_arn
        return {
            "VisibilityTimeout": str(self.visibility_timeout),
            "MessageRetentionPeriod": str(self.retention),
            "MaximumMessageSize": str(self.max_message_size),
            "RedrivePolicy": (f'{{"deadLetterTargetArn":"{target}","maxReceiveCount":{self.max_receive_count}}}'),
            **fifo_rules.attributes(self.fifo),
        }

    def dlq_attributes(self) -> dict[str, str]:
        """SQS CreateQueue attributes of the dead-letter queue."""
        return {
            "MessageRetentionPeriod": str(self.dlq_retention),
            "MaximumMessageSize": str(self.max_message_size),
            **fifo_rules.attributes(self.fifo),
        }


@dataclass(frozen=True, slots=True)
class Topology:
    """Everything one app deploys."""

    app: str
    queues: tuple[QueueResource, ...]
    table: TableResource
    schedule_group: str
    sizing: WorkerSizing
    #: Where SQS's redrive policies put what they move, and the reconciler that records it DEAD.
    intake: IntakeResource
    #: The periodic schedules declared with ``@app.periodic``.
    schedules: tuple[ScheduleResource, ...] = ()
    #: Where EventBridge Scheduler puts invocations it could not deliver (a standard queue, DLQ retention).
    scheduler_dlq_name: str = ""
    #: The role EventBridge Scheduler assumes to send to the app's queues (sqs:SendMessage on each).
    scheduler_role_name: str = ""
    #: The tables and buckets the app's extensions declare (``Extension.resources()``), in declaration order.
    extension_tables: tuple[ExtensionTableResource, ...] = ()
    extension_buckets: tuple[ExtensionBucketResource, ...] = ()
    #: The deployment's stage, which every name above carries (None: unstaged).
    stage: str | None = None
    #: (queue, default lane) of each queue declared with lanes.
    default_lanes: tuple[tuple[str, str], ...] = ()
    #: The functions of the queues that declare their own sizing (``Queue(timeout=...)``); the rest share the
    #: default worker, sized by ``sizing``.
    workers: tuple[WorkerResource, ...] = ()
    #: Where the FIFO queues' redrive policies put what they move (FIFO too; the same reconciler drains it), if
    #: the app declares a FIFO queue; None: no FIFO queue, no such resource.
    fifo_intake: IntakeResource | None = None

    @property
    def intakes(self) -> tuple[IntakeResource, ...]:
        """Every intake queue: the standard one, then the FIFO one if the app has FIFO queues."""
        return (self.intake,) if self.fifo_intake is None else (self.intake, self.fifo_intake)

    def worker(self, queue: str) -> WorkerResource | None:
        """The function of declared queue ``queue`` if it has its own, else None (the default worker serves it)."""
        return next((worker for worker in self.workers if worker.queue == queue), None)

    def sizing_of(self, queue: str) -> WorkerSizing:
        """The sizing of the function that consumes declared queue ``queue`` (every lane of it)."""
        worker = self.worker(queue)
        return self.sizing if worker is None else worker.sizing

    def queue(self, name: str) -> QueueResource:
        """The resource of logical queue ``name`` (a lane: ``<queue>:<lane>``)."""
        for queue in self.queues:
            if queue.name == name:
                return queue
        raise KeyError(name)

    @property
    def lanes(self) -> dict[str, config.Lanes]:
        """The queues with priority lanes: their lanes, highest first, and default lane (for the settings)."""
        found: dict[str, list[str]] = {}
        defaults: dict[str, str] = {}
        for resource in self.queues:
            if resource.lane is not None:
                found.setdefault(resource.queue, []).append(resource.lane)
        for name, default in self.default_lanes:
            defaults[name] = default
        return {name: config.Lanes(tuple(names), defaults[name]) for name, names in found.items()}


def visibility_timeout(sizing: WorkerSizing, batching_window: int) -> int:
    """AWS's guidance: at least 6 x the function timeout, plus the batching window."""
    return limits.VISIBILITY_TO_TIMEOUT_RATIO * sizing.timeout + batching_window


def describe(
    app: App,
    sizing: WorkerSizing | None = None,
    overrides: Mapping[str, Mapping[str, int | None]] | None = None,
    *,
    stage: str | None = None,
) -> Topology:
    """Describe the resources ``app`` needs; ``overrides`` adjust a queue's polling settings by name. The names
    carry ``stage``, by default the app's own: a deployment names it, as one app object may be deployed at several.
    """
    sizing = sizing or WorkerSizing()
    stage = stage if stage is not None else app.stage
    prefix = resource_prefix(app.name, stage)
    queues: list[QueueResource] = []
    workers: list[WorkerResource] = []
    app.tasks  # noqa: B018  # first: a lazy app (squall.celery) imports its task modules, which declare queues
    for declared in app.queues.values():
        queue = replace(declared, **dict((overrides or {}).get(declared.name, {})))  # type: ignore[arg-type]
        worker = worker_rules.queue_worker(queue, sizing, prefix)
        workers.extend([] if worker is None else [worker])
        queues.extend(queue_resources(queue, prefix, sizing if worker is None else worker.sizing))
    check_fits(app, sizing, {worker.queue: worker.sizing for worker in workers})
    shared = [q.max_concurrency for q in queues if all(q.queue != worker.queue for worker in workers)]
    polling = None if None in shared else sum(cap for cap in shared if cap is not None)
    worker_rules.check_reservation("the default worker", sizing.reserved_concurrency, polling)
    intake = IntakeResource(
        name=f"{prefix}-moved",
        function_name=f"{prefix}-reconciler",
        timeout=limits.RECONCILER_TIMEOUT_SECONDS,
        memory=limits.RECONCILER_MEMORY_MB,
        visibility_timeout=limits.VISIBILITY_TO_TIMEOUT_RATIO * limits.RECONCILER_TIMEOUT_SECONDS,
        retention=limits.DLQ_RETENTION_SECONDS,
        max_message_size=limits.SQS_MAX_MESSAGE_BYTES,
        batch_size=limits.RECONCILER_BATCH_SIZE,
        max_concurrency=limits.RECONCILER_MAX_CONCURRENCY,
    )
    fifo_intake = intake.as_fifo() if any(q.fifo for q in queues) else None
    lane_rules.check_unique(
        [
            *((name, f"queue {q.name!r}") for q in queues for name in (q.queue_name, q.dlq_name)),
            (intake.name, "the intake queue"),
            *([] if fifo_intake is None else [(fifo_intake.name, "the FIFO intake queue")]),
            (f"{prefix}-scheduler-dlq", "the scheduler's DLQ"),
        ]
    )

    table = TableResource(name=f"{prefix}-tasks")
    tables, buckets = extension_resources(app, reserved=(table.name,), stage=stage)
    return Topology(
        app=app.name,
        stage=stage,
        queues=tuple(queues),
        table=table,
        extension_tables=tables,
        extension_buckets=buckets,
        schedule_group=prefix,
        sizing=sizing,
        workers=tuple(workers),
        schedules=fifo_rules.checked_schedules(app.queues, schedule_resources(app)),
        scheduler_dlq_name=f"{prefix}-scheduler-dlq",
        scheduler_role_name=f"{prefix}-scheduler",
        default_lanes=tuple((q.name, q.default_lane) for q in app.queues.values() if q.default_lane is not None),
        intake=intake,
        fifo_intake=fifo_intake,
    )


def queue_resources(queue: Queue, prefix: str, sizing: WorkerSizing) -> list[QueueResource]:
    """The deployed queues of one declared queue: itself, or one per lane (``<queue>:<lane>``, its share);
    ``sizing`` is that of the function consuming them, from which their visibility timeout derives."""
    common: dict[str, Any] = {
        "visibility_timeout": visibility_timeout(sizing, queue.batching_window),
        "retention": limits.DEFAULT_QUEUE_RETENTION_SECONDS,
        "dlq_retention": limits.DLQ_RETENTION_SECONDS,
        "max_message_size": limits.SQS_MAX_MESSAGE_BYTES,
        "max_receive_count": limits.MAX_RECEIVE_COUNT,
        "batch_size": queue.batch_size,
        "batching_window": queue.batching_window,
        "batch_concurrency": queue.batch_concurrency,
        "queue": queue.name,
    }
    if not queue.lanes:
        return [
            QueueResource(
                name=queue.name,
                queue_name=fifo_rules.named(f"{prefix}-{queue.name}", queue.fifo),
                dlq_name=fifo_rules.named(f"{prefix}-{queue.name}-dlq", queue.fifo),
                fifo=queue.fifo,
                max_concurrency=queue.max_concurrency,
                **common,
            )
        ]
    resources = []
    for lane in queue.lanes:
        source, dlq = lane_rules.lane_physical_names(prefix, queue.name, lane)
        resources.append(
            QueueResource(
                name=lane_rules.lane_key(queue.name, lane),
                queue_name=source,
                dlq_name=dlq,
                max_concurrency=queue.lane_shares[lane],
                lane=lane,
                **common,
            )
        )
    return resources
