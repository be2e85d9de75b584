"""The app's queues, every attribute from the Topology: one source queue and one DLQ per logical queue, and
the intake queue every standard source queue's redrive policy targets (and the FIFO one, every FIFO queue's)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from squall.deploy.topology import IntakeResource, QueueResource


def secure_queue(
    scope: Construct,
    construct_id: str,
    *,
    queue_name: str,
    retention: int,
    removal_policy: RemovalPolicy,
    visibility_timeout: int | None = None,
    max_message_size: int | None = None,
    dead_letter_queue: sqs.DeadLetterQueue | None = None,
    encryption_key: kms.IKey | None = None,
    fifo: bool = False,
) -> sqs.Queue:
    """A queue as every Squall queue is: encrypted and reachable over TLS only.

    Encrypted with SQS-managed keys (SSE-SQS, no KMS calls or charges), or with ``encryption_key``, a customer
    managed key (SSE-KMS): then every role that sends or receives needs ``kms:GenerateDataKey``/``kms:Decrypt``
    on it, which :mod:`squall.cdk.grants` gives. Times are in seconds (``retention``, ``visibility_timeout``),
    sizes in bytes; None keeps SQS's default. ``fifo``: a FIFO queue without content-based deduplication (the
    task id is each message's MessageDeduplicationId; squall.deploy.fifo).
    """
    return sqs.Queue(
        scope,
        construct_id,
        queue_name=queue_name,
        visibility_timeout=None if visibility_timeout is None else Duration.seconds(visibility_timeout),
        retention_period=Duration.seconds(retention),
        max_message_size_bytes=max_message_size,
        encryption=sqs.QueueEncryption.SQS_MANAGED if encryption_key is None else sqs.QueueEncryption.KMS,
        encryption_master_key=encryption_key,
        enforce_ssl=True,
        dead_letter_queue=dead_letter_queue,
        removal_policy=removal_policy,
        fifo=True if fifo else None,
        content_based_deduplication=False if fifo else None,
    )


class IntakeQueue(Construct):
    """Where SQS moves a message after ``maxReceiveCount`` receives, for the reconciler to record DEAD.

    It carries no RedriveAllowPolicy: SQS's default (``allowAll``) lets any queue of this account and
    region name it, and ``byQueue`` would list the source queues, whose redrive policies already name
    this queue (a cycle CloudFormation cannot create) and of which there may be more than the 10 it takes.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        resource: IntakeResource,
        removal_policy: RemovalPolicy,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.resource = resource
        # A moved message keeps its original enqueue time, so the retention (14 days) must, and does,
        # exceed the source queues' (4 days): every moved message has days here before it expires.
        self.queue = secure_queue(
            self,
            "Queue",
            queue_name=resource.name,
            retention=resource.retention,
            visibility_timeout=resource.visibility_timeout,
            max_message_size=resource.max_message_size,
            removal_policy=removal_policy,
            encryption_key=encryption_key,
            fifo=resource.fifo,
        )


class TaskQueue(Construct):
    """A source queue with SSE, TLS-only access and a redrive policy into the intake queue, and its DLQ."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        resource: QueueResource,
        intake: sqs.IQueue,
        removal_policy: RemovalPolicy,
        encryption_key: kms.IKey | None = None,
        fifo_intake: sqs.IQueue | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.resource = resource
        if resource.fifo and fifo_intake is None:
            raise ValueError(f"queue {resource.name!r} is FIFO: its redrive policy needs the FIFO intake queue")
        #: Holds only what Squall sends it, each with a reason: tasks the worker dead-lettered, and those
        #: the reconciler recorded DEAD after SQS moved them to the intake queue. No redrive policy names it.
        self.dead_letter_queue = secure_queue(
            self,
            "DeadLetterQueue",
            queue_name=resource.dlq_name,
            retention=resource.dlq_retention,
            max_message_size=resource.max_message_size,
            removal_policy=removal_policy,
            encryption_key=encryption_key,
            fifo=resource.fifo,
        )
        # A FIFO queue's redrive target must be FIFO: the FIFO intake queue (QueueResource.queue_attributes).
        target = fifo_intake if resource.fifo and fifo_intake is not None else intake
        self.queue = secure_queue(
            self,
            "Queue",
            queue_name=resource.queue_name,
            retention=resource.retention,
            visibility_timeout=resource.visibility_timeout,
            max_message_size=resource.max_message_size,
            dead_letter_queue=sqs.DeadLetterQueue(queue=target, max_receive_count=resource.max_receive_count),
            removal_policy=removal_policy,
            encryption_key=encryption_key,
            fifo=resource.fifo,
        )
