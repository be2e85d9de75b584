"""EventBridge Scheduler for an app: a schedule group, the role schedules send with, and their DLQ."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from squall import limits
from squall.cdk import policies
from squall.cdk.constructs.queues import secure_queue
from squall.deploy.topology import Topology
from squall.scheduler.periodic import ScheduleResource
from squall.scheduler.scheduling import start_date_for


class TaskScheduler(Construct):
    """The app's schedule group, an execution role that may send only to the app's queues, and a DLQ.

    :meth:`add_schedule` declares a periodic schedule in the template; the SDK creates one-time
    schedules (long delays) at run time in the same group, with the same role and DLQ.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topology: Topology,
        queues: Mapping[str, sqs.IQueue],
        removal_policy: RemovalPolicy,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.queues = dict(queues)
        # Deleting the group deletes its schedules, including pending long-delayed tasks: same policy as the queues.
        self.group = scheduler.ScheduleGroup(
            self, "Group", schedule_group_name=topology.schedule_group, removal_policy=removal_policy
        )
        #: Receives invocations Scheduler could not deliver after its retry policy (standard queues only).
        self.dead_letter_queue = secure_queue(
            self,
            "DeadLetterQueue",
            queue_name=topology.scheduler_dlq_name,
            retention=limits.DLQ_RETENTION_SECONDS,
            removal_policy=removal_policy,
            encryption_key=encryption_key,
        )
        # The confused-deputy guard AWS documents for Scheduler execution roles: only schedules of
        # this account may assume it. IAM role names are account-wide, so the role has no fixed name:
        # CloudFormation makes one unique to the stack, and Settings carries its ARN to whoever passes it.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
            description=f"EventBridge Scheduler: sends {topology.app} tasks to the app's queues",
        )
        # SendMessage only, to the app's queues and, as Scheduler delivers dead-letter events with the
        # execution role too, to this DLQ.
        self.role.add_to_policy(
            policies.on_queues(actions=["sqs:SendMessage"], queues=[*self.queues.values(), self.dead_letter_queue])
        )

    def add_schedule(self, resource: ScheduleResource, *, now: datetime | None = None) -> scheduler.CfnSchedule:
        """Declare ``resource`` as it is described: a templated SendMessage target, retry policy and DLQ.

        The properties mirror :func:`squall.scheduler.periodic.schedule_request`, which the local runtime sends.
        ``now`` (default: synth time) moves a past StartDate forward, as the service refuses one in the past.
        """
        if resource.queue not in self.queues:
            raise ValueError(
                f"schedule {resource.name!r}: no queue {resource.queue!r}; known: {', '.join(self.queues)}"
            )
        start = start_date_for(resource.expression, resource.start, now or datetime.now(UTC))
        window = (
            scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF")
            if resource.flexible_window_minutes is None
            else scheduler.CfnSchedule.FlexibleTimeWindowProperty(
                mode="FLEXIBLE", maximum_window_in_minutes=resource.flexible_window_minutes
            )
        )
        schedule = scheduler.CfnSchedule(
            self,
            f"Schedule-{resource.name}",
            name=resource.name,
            group_name=self.group.schedule_group_name,
            schedule_expression=resource.expression,
            schedule_expression_timezone=resource.timezone,
            flexible_time_window=window,
            state="ENABLED" if resource.enabled else "DISABLED",
            description=resource.description,
            start_date=start.isoformat() if start else None,
            end_date=resource.end.isoformat() if resource.end else None,
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.queues[resource.queue].queue_arn,
                role_arn=self.role.role_arn,
                input=resource.input,
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=resource.retry_attempts,
                    maximum_event_age_in_seconds=resource.max_event_age,
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(arn=self.dead_letter_queue.queue_arn),
            ),
        )
        # The group's name is a literal, not a reference: order the creation explicitly.
        schedule.node.add_dependency(self.group)
        return schedule
