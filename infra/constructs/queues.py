"""One logical queue: an SQS source queue and its dead-letter queue, every attribute from the Topology."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from squall.topology import QueueResource


class TaskQueue(Construct):
    """A source queue with SSE, TLS-only access and a redrive policy into its own DLQ."""

    def __init__(
        self, scope: Construct, construct_id: str, *, resource: QueueResource, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        self.resource = resource
        #: Holds messages SQS redrove after max_receive_count receives, and those the worker dead-lettered.
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
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=resource.max_receive_count
            ),
            removal_policy=removal_policy,
        )
