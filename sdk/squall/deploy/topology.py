"""The one description of an app's resources, shared by the CDK stack and the local runtime.

Every derived value (visibility timeout, redrive count, retention) is computed here, once, so the
cloud and the laptop cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from squall import config, limits
from squall.errors import ConfigurationError, TaskDefinitionError
from squall.scheduler.periodic import ScheduleResource, schedule_resources
from squall.state.schema import (
    INDEX_NAME,
    INDEX_PARTITION_ATTRIBUTE,
    INDEX_PROJECTED_ATTRIBUTES,
    INDEX_SORT_ATTRIBUTE,
    KEY_ATTRIBUTE,
    TTL_ATTRIBUTE,
)
from squall.tasks.resources import ExtensionBucket, ExtensionTable

if TYPE_CHECKING:
    from squall.protocols import App


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue an app declares, with how its worker event source polls it."""

    name: str
    #: Records per worker invocation (ESM BatchSize); above 10 needs a batching window.
    batch_size: int = limits.DEFAULT_BATCH_SIZE
    #: Seconds the event source may wait to fill a batch (ESM MaximumBatchingWindowInSeconds).
    batching_window: int = limits.DEFAULT_BATCHING_WINDOW_SECONDS
    #: Most concurrent worker invocations for this queue (ESM ScalingConfig.MaximumConcurrency), 2-1000;
    #: ``None`` asks for no cap, which lets the queue take the Region's shared concurrency (limits.py).
    max_concurrency: int | None = limits.DEFAULT_MAX_CONCURRENCY

    def __post_init__(self) -> None:
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


@dataclass(frozen=True, slots=True)
class WorkerSizing:
    """The worker function's timeout (seconds) and memory (MB)."""

    timeout: int = limits.DEFAULT_WORKER_TIMEOUT_SECONDS
    memory: int = limits.DEFAULT_WORKER_MEMORY_MB

    def __post_init__(self) -> None:
        if not 1 <= self.timeout <= limits.LAMBDA_MAX_TIMEOUT_SECONDS:
            raise TaskDefinitionError(
                f"worker timeout {self.timeout} must be 1-{limits.LAMBDA_MAX_TIMEOUT_SECONDS} seconds"
            )
        if not 128 <= self.memory <= 10_240:
            raise TaskDefinitionError(f"worker memory {self.memory} must be 128-10240 MB")


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

    def queue_attributes(self, intake_arn: str) -> dict[str, str]:
        """SQS CreateQueue attributes of the source queue (the CDK stack sets the same values).

        The redrive policy's target is the app's intake queue (see :class:`IntakeResource`), not this queue's
        DLQ: what SQS moves there is recorded DEAD with a reason before it reaches the DLQ.
        """
        return {
            "VisibilityTimeout": str(self.visibility_timeout),
            "MessageRetentionPeriod": str(self.retention),
            "MaximumMessageSize": str(self.max_message_size),
            "RedrivePolicy": (f'{{"deadLetterTargetArn":"{intake_arn}","maxReceiveCount":{self.max_receive_count}}}'),
        }

    def dlq_attributes(self) -> dict[str, str]:
        """SQS CreateQueue attributes of the dead-letter queue."""
        return {
            "MessageRetentionPeriod": str(self.dlq_retention),
            "MaximumMessageSize": str(self.max_message_size),
        }


@dataclass(frozen=True, slots=True)
class IntakeResource:
    """The queue every source queue's redrive policy targets, and the reconciler function that drains it.

    SQS moves a message there after ``maxReceiveCount`` receives on which the worker never acted (Lambda
    throttling, crashes or timeouts before the record was reached). The reconciler records each one's task
    DEAD with a reason and sends the message on to its source queue's DLQ (found from the message's
    ``DeadLetterQueueSourceArn``), so that every DLQ message has a reason and a DEAD record.
    """

    name: str
    #: The reconciler function's name, timeout (seconds) and memory (MB).
    function_name: str
    timeout: int
    memory: int
    #: 6 x the reconciler's timeout, as for every queue a Lambda function consumes.
    visibility_timeout: int
    #: DLQ retention: a message keeps its original enqueue time when SQS moves it.
    retention: int
    max_message_size: int
    batch_size: int
    max_concurrency: int

    def queue_attributes(self) -> dict[str, str]:
        """SQS CreateQueue attributes of the intake queue (the CDK stack sets the same values)."""
        return {
            "VisibilityTimeout": str(self.visibility_timeout),
            "MessageRetentionPeriod": str(self.retention),
            "MaximumMessageSize": str(self.max_message_size),
        }


@dataclass(frozen=True, slots=True)
class TableResource:
    """The task-state table: a string partition key and a TTL attribute, billed on demand.

    Plus one global secondary index for listing tasks by state and time (``squall tasks``): string partition
    and sort keys, projection INCLUDE of ``index_non_key_attributes``. It is sparse: only failure-path writes
    set its keys (see :mod:`squall.state.store`), so a successful task costs no index writes.
    """

    name: str
    partition_key: str = KEY_ATTRIBUTE
    ttl_attribute: str = TTL_ATTRIBUTE
    #: GlobalSecondaryIndexes[0]: IndexName, HASH and RANGE key attribute names (both type S), and
    #: Projection {ProjectionType: INCLUDE, NonKeyAttributes: index_non_key_attributes}.
    index_name: str = INDEX_NAME
    index_partition_key: str = INDEX_PARTITION_ATTRIBUTE
    index_sort_key: str = INDEX_SORT_ATTRIBUTE
    index_non_key_attributes: tuple[str, ...] = INDEX_PROJECTED_ATTRIBUTES


@dataclass(frozen=True, slots=True)
class ExtensionTableResource:
    """A table an extension declared, as deployed: ``table_name`` is ``squall-<app>-<name>``, on AWS and locally."""

    #: The declaring extension's ``name``.
    extension: str
    table_name: str
    declared: ExtensionTable


@dataclass(frozen=True, slots=True)
class ExtensionBucketResource:
    """A bucket an extension declared, as deployed, in the account regional namespace: S3 names it
    ``<name_prefix>-<account id>-<region>-an`` and no other account can take that name (a predictable name
    in the global namespace could be claimed first). ``name_prefix`` is ``squall-<app>-<name>``.
    """

    extension: str
    name_prefix: str
    declared: ExtensionBucket

    def bucket_name(self, account: str, region: str) -> str:
        """The bucket's name in ``account`` and ``region``, as S3 composes it."""
        return f"{self.name_prefix}-{account}-{region}{limits.S3_ACCOUNT_REGIONAL_SUFFIX}"


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

    def queue(self, name: str) -> QueueResource:
        """The resource of logical queue ``name``."""
        for queue in self.queues:
            if queue.name == name:
                return queue
        raise KeyError(name)


def visibility_timeout(sizing: WorkerSizing, batching_window: int) -> int:
    """AWS's guidance: at least 6 x the function timeout, plus the batching window."""
    return limits.VISIBILITY_TO_TIMEOUT_RATIO * sizing.timeout + batching_window


def check_fits(app: App, sizing: WorkerSizing) -> None:
    """Refuse a task whose declared ``expected_duration`` can never fit in one worker invocation."""
    room = sizing.timeout - limits.DEADLINE_MARGIN_SECONDS
    for task in app.tasks.values():
        expected = task.options.expected_duration
        if expected is not None and expected > room:
            raise TaskDefinitionError(
                f"task {task.name!r}: expected_duration {expected:g} s cannot fit in the worker's {sizing.timeout} s "
                f"timeout less the {limits.DEADLINE_MARGIN_SECONDS:g} s kept for its writes; raise the worker timeout "
                "(squall:timeout) or split the task"
            )


def resource_prefix(app: str, stage: str | None = None) -> str:
    """The documented default naming: ``squall-<app>``, or ``squall-<app>-<stage>`` for a staged deployment."""
    return f"squall-{config.deployment_name(app, stage)}"


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
    check_fits(app, sizing)
    queues = []
    for declared in app.queues.values():
        queue = replace(declared, **dict((overrides or {}).get(declared.name, {})))  # type: ignore[arg-type]
        queues.append(
            QueueResource(
                name=queue.name,
                queue_name=f"{prefix}-{queue.name}",
                dlq_name=f"{prefix}-{queue.name}-dlq",
                visibility_timeout=visibility_timeout(sizing, queue.batching_window),
                retention=limits.DEFAULT_QUEUE_RETENTION_SECONDS,
                dlq_retention=limits.DLQ_RETENTION_SECONDS,
                max_message_size=limits.SQS_MAX_MESSAGE_BYTES,
                max_receive_count=limits.MAX_RECEIVE_COUNT,
                batch_size=queue.batch_size,
                batching_window=queue.batching_window,
                max_concurrency=queue.max_concurrency,
            )
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
        schedules=schedule_resources(app),
        scheduler_dlq_name=f"{prefix}-scheduler-dlq",
        scheduler_role_name=f"{prefix}-scheduler",
        intake=IntakeResource(
            name=f"{prefix}-moved",
            function_name=f"{prefix}-reconciler",
            timeout=limits.RECONCILER_TIMEOUT_SECONDS,
            memory=limits.RECONCILER_MEMORY_MB,
            visibility_timeout=limits.VISIBILITY_TO_TIMEOUT_RATIO * limits.RECONCILER_TIMEOUT_SECONDS,
            retention=limits.DLQ_RETENTION_SECONDS,
            max_message_size=limits.SQS_MAX_MESSAGE_BYTES,
            batch_size=limits.RECONCILER_BATCH_SIZE,
            max_concurrency=limits.RECONCILER_MAX_CONCURRENCY,
        ),
    )


# --- what extensions declare ---------------------------------------------------------------------------------

#: The most S3 appends to a bucket's prefix in the account regional namespace: -<account id>-<region>-an.
_BUCKET_SUFFIX_CHARS = (
    2 + limits.AWS_ACCOUNT_ID_CHARS + limits.AWS_MAX_REGION_CODE_CHARS + len(limits.S3_ACCOUNT_REGIONAL_SUFFIX)
)


def extension_resources(
    app: App, *, reserved: tuple[str, ...] = (), stage: str | None = None
) -> tuple[tuple[ExtensionTableResource, ...], tuple[ExtensionBucketResource, ...]]:
    """Name what the app's extensions declare, and refuse what AWS would: ConfigurationError names what to change.

    ``reserved`` are table names the app uses already (its task table); ``stage`` defaults to the app's.
    """
    prefix = resource_prefix(app.name, stage if stage is not None else app.stage)
    tables: list[ExtensionTableResource] = []
    buckets: list[ExtensionBucketResource] = []
    owners: dict[str, str] = {}
    for extension in app.extensions:
        try:  # the declarations check themselves (squall.tasks.resources): say whose they are
            declarations = tuple(extension.resources())
        except ConfigurationError as exc:
            raise ConfigurationError(f"extension {extension.name!r}: {exc}") from None
        for declared in declarations:
            if not isinstance(declared, (ExtensionTable, ExtensionBucket)):
                raise ConfigurationError(
                    f"extension {extension.name!r} declares {declared!r}; declare ExtensionTable or ExtensionBucket"
                )
            kind = "bucket" if isinstance(declared, ExtensionBucket) else "table"
            what = f"extension {extension.name!r} declares {kind} {declared.name!r}"
            if declared.name in owners:
                raise ConfigurationError(
                    f"{what}, a name extension {owners[declared.name]!r} declares already: give each its own name"
                )
            owners[declared.name] = extension.name
            physical = f"{prefix}-{declared.name}"
            if isinstance(declared, ExtensionBucket):
                longest = len(physical) + _BUCKET_SUFFIX_CHARS
                if longest > limits.S3_MAX_BUCKET_NAME_CHARS:
                    raise ConfigurationError(
                        f"{what}: its name {physical}-<account id>-<region>-an reaches {longest} characters, over "
                        f"S3's {limits.S3_MAX_BUCKET_NAME_CHARS}: shorten the bucket name or the app name {app.name!r}"
                    )
                buckets.append(ExtensionBucketResource(extension.name, physical, declared))
                continue
            if physical in reserved:
                raise ConfigurationError(f"{what}: the app's own table is named {physical!r}; choose another name")
            if len(physical) > limits.DYNAMODB_MAX_TABLE_NAME_CHARS:
                raise ConfigurationError(
                    f"{what}: its name {physical!r} is {len(physical)} characters, over DynamoDB's "
                    f"{limits.DYNAMODB_MAX_TABLE_NAME_CHARS}: shorten the table name"
                )
            tables.append(ExtensionTableResource(extension.name, physical, declared))
    return tuple(tables), tuple(buckets)


def table_name(app: App, name: str) -> str:
    """The deployed name of the table an extension of ``app`` declares as ``name``."""
    tables, _ = extension_resources(app)
    for table in tables:
        if table.declared.name == name:
            return table.table_name
    raise _undeclared(app, "table", name, [t.declared.name for t in tables])


def bucket_name(app: App, name: str) -> str:
    """The deployed name of the bucket an extension of ``app`` declares as ``name``.

    S3 puts the account and the region in it: both are read from the app's settings (the account from a queue's ARN).
    """
    _, buckets = extension_resources(app)
    for bucket in buckets:
        if bucket.declared.name == name:
            settings = app.settings
            account = next(iter(settings.queues.values())).arn.split(":")[4]
            return bucket.bucket_name(account, settings.region)
    raise _undeclared(app, "bucket", name, [b.declared.name for b in buckets])


def _undeclared(app: App, kind: str, name: str, known: list[str]) -> ConfigurationError:
    return ConfigurationError(
        f"no extension of app {app.name!r} declares a {kind} named {name!r}; declared: {', '.join(known) or 'none'}"
    )
