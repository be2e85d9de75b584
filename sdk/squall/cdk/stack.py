""":class:`SquallStack`: the ``squall deploy`` / ``cdk deploy`` stack, one :class:`SquallService` and the outputs
producers and operators need. The service itself is :mod:`squall.cdk.service`; its grants, :mod:`squall.cdk.grants`.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from squall.app import Squall
from squall.cdk.options import DeployOptions
from squall.cdk.service import SquallService

__all__ = ["SquallService", "SquallStack"]


class SquallStack(Stack):
    """The ``cdk deploy`` stack: one :class:`SquallService` and the outputs producers need."""

    def __init__(
        self, scope: Construct, construct_id: str, *, app: Squall, options: DeployOptions, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.service = SquallService(self, "Squall", app=app, options=options)
        for name, q in self.service.task_queues.items():
            CfnOutput(self, f"QueueUrl-{name}", value=q.queue.queue_url, description=f"URL of queue {name!r}")
            CfnOutput(
                self,
                f"DeadLetterQueueUrl-{name}",
                value=q.dead_letter_queue.queue_url,
                description=f"URL of the dead-letter queue of {name!r}",
            )
        CfnOutput(self, "TableName", value=self.service.table.table_name, description="Task state table")
        CfnOutput(
            self,
            "SettingsParameter",
            value=self.service.parameter.parameter_name,
            description="SSM parameter with the app's Squall settings (read by Squall(app) in producers)",
        )
        CfnOutput(
            self,
            "OperatorPolicyArn",
            value=self.service.operator_policy.managed_policy_arn,
            description="Managed policy for people and tools running the squall CLI against this app",
        )
        CfnOutput(
            self,
            "ProducerPolicyArn",
            value=self.service.producer_policy.managed_policy_arn,
            description="Attach to roles that send tasks and read results",
        )
        CfnOutput(self, "WorkerFunctionName", value=self.service.worker.function.function_name)
        CfnOutput(
            self,
            "IntakeQueueUrl",
            value=self.service.intake.queue_url,
            description="URL of the queue SQS's redrive policies move messages to (drained by the reconciler)",
        )
        CfnOutput(self, "ReconcilerFunctionName", value=self.service.reconciler.function.function_name)
        CfnOutput(self, "DashboardName", value=self.service.monitoring.dashboard.dashboard_name)
        if (api := self.service.api) is not None:
            CfnOutput(self, "ApiUrl", value=f"{api.url}v1", description="Base URL of the Squall REST API (docs/api.md)")
            if api.token_secret is not None:
                CfnOutput(
                    self,
                    "ApiTokenSecretArn",
                    value=api.token_secret.secret_arn,
                    description="Secrets Manager secret holding the REST API's bearer token(s)",
                )
        extensions = self.service.extension_resources
        for name, table in extensions.tables.items():
            CfnOutput(self, f"ExtensionTable-{name}", value=table.table_name, description=f"Extension table {name!r}")
        for name, bucket in extensions.buckets.items():
            CfnOutput(
                self, f"ExtensionBucket-{name}", value=bucket.bucket_name, description=f"Extension bucket {name!r}"
            )
