"""The app-wide resources of the description: the intake queues with their reconciler, and the task table.

Re-exported by :mod:`squall.deploy.topology`, which derives them with everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from squall import limits
from squall.deploy import fifo as fifo_rules
from squall.state.schema import (
    INDEX_NAME,
    INDEX_PARTITION_ATTRIBUTE,
    INDEX_PROJECTED_ATTRIBUTES,
    INDEX_SORT_ATTRIBUTE,
    KEY_ATTRIBUTE,
    TTL_ATTRIBUTE,
)


@dataclass(frozen=True, slots=True)
class IntakeResource:
    """The queue every source queue's redrive policy targets, and the reconciler function that drains it.

    SQS moves a message there after ``maxReceiveCount`` receives on which the worker never acted (Lambda
    throttling, crashes or timeouts before the record was reached). The reconciler records each one's task
    DEAD with a reason and sends the message on to its source queue's DLQ (found from the message's
    ``DeadLetterQueueSourceArn``), so that every DLQ message has a reason and a DEAD record.

    An app with a FIFO queue has a second one, FIFO (``fifo``), drained by the same function through a second
    event source: SQS lets a FIFO queue's redrive policy target only a FIFO queue ("When configuring a DLQ, the
    queue type must match the source queue type", SQS Developer Guide, "Configure a dead-letter queue"). One
    serves every FIFO queue of the app, as one serves every standard queue: the DLQ to send to is found from
    the moved message, not from the queue it waits on.
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
    #: The FIFO intake queue of the app's FIFO queues (its name ends in ``.fifo``).
    fifo: bool = False

    def queue_attributes(self) -> dict[str, str]:
        """SQS CreateQueue attributes of the intake queue (the CDK stack sets the same values)."""
        return {
            "VisibilityTimeout": str(self.visibility_timeout),
            "MessageRetentionPeriod": str(self.retention),
            "MaximumMessageSize": str(self.max_message_size),
            **fifo_rules.attributes(self.fifo),
        }

    def as_fifo(self) -> IntakeResource:
        """The FIFO intake queue beside this standard one: the same settings and reconciler function (a second event
        source on it), the name with ``.fifo``, and a batch within Lambda's limit for FIFO sources (10 records, no
        batching window: "Lambda parameters for Amazon SQS event source mappings")."""
        return replace(
            self,
            name=fifo_rules.named(self.name, True),
            fifo=True,
            batch_size=min(self.batch_size, limits.ESM_MAX_BATCH_SIZE_WITHOUT_WINDOW),
        )


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
