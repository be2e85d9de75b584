"""The app's queues, every attribute from the Topology: one source queue and one DLQ per logical queue, and
the one intake queue every source queue's redrive policy targets."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from squall.topology import IntakeResource, QueueResource


class IntakeQueue(Construct):
    """Where SQS moves a message after ``maxReceiveCount`` receives, for the reconciler to record DEAD.

    It carries no RedriveAllowPolicy: SQS's default (``allowAll``) lets any queue of this account and
    region name it, and ``byQueue`` would list the source queues, whose redrive policies already name
    this queue (a cycle CloudFormation cannot create) and of which there may be more than the 10 it takes.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, resource: IntakeResource, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        self.resource = resource
        # A moved message keeps its original enqueue time, so the retention (14 days) must, and does,
        # exceed the source queues' (4 days): every moved message has days here before it expires.
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=resource.name,
            visibility_timeout=Duration.seconds(resource.visibility_timeout),
            retention_period=Duration.seconds(resource.retention),
            max_message_size_bytes=resource.max_message_size,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=removal_policy,
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
    ) -> None:
        super().__init__(scope, construct_id)
        self.resource = resource
        #: Holds only what Squall sends it, each with a reason: tasks the worker dead-lettered, and those
        #: the reconciler recorded DEAD after SQS moved them to the intake queue. No redrive policy names it.
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=resource.dlq_name,
            retention_period=Duration.seconds(resource.dlq_retention),
            max_message_size_bytes=resource.max_message_size,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=removal_policy,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=resource.queue_name,
            visibility_timeout=Duration.seconds(resource.visibility_timeout),
            retention_period=Duration.seconds(resource.retention),
            max_message_size_bytes=resource.max_message_size,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=intake, max_receive_count=resource.max_receive_count),
            removal_policy=removal_policy,
        )
