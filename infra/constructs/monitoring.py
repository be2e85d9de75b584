"""Alarms and a dashboard for one app: queue depth and age, dead letters, task outcomes, the worker and the
reconciler."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.queues import TaskQueue
from squall.worker.handler import METRICS_NAMESPACE, OUTCOME_METRICS

#: Alarm evaluation period: SQS publishes queue metrics every minute; five smooth out polling gaps.
PERIOD = Duration.minutes(5)
#: Alarm when a message has waited this long on the intake queue, in seconds (15 minutes). The reconciler
#: drains it within seconds, so a message that waits longer means the reconciler is failing. SQS's
#: ApproximateAgeOfOldestMessage counts from when a message was moved there, not from its original send.
INTAKE_AGE_ALARM_SECONDS = 15 * 60
#: The dimension Powertools Metrics adds for ``Metrics(service=...)``; the worker sets it to the app name.
SERVICE_DIMENSION = "service"


class Monitoring(Construct):
    """CloudWatch alarms (optionally emailed through an encrypted SNS topic) and a dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        app_name: str,
        queues: Sequence[TaskQueue],
        function: lambda_.IFunction,
        intake: sqs.IQueue,
        reconciler: lambda_.IFunction,
        scheduler_dead_letter_queue: sqs.IQueue,
        age_alarm_seconds: int,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.app_name = app_name
        self.topic: sns.Topic | None = None
        if alarm_email:
            self.topic = sns.Topic(
                self,
                "AlarmTopic",
                display_name=f"Squall {app_name} alarms",
                master_key=kms.Alias.from_alias_name(self, "SnsManagedKey", "alias/aws/sns"),
                enforce_ssl=True,
            )
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: list[cloudwatch.Alarm] = []
        for task_queue in queues:
            name = task_queue.resource.name
            self._dead_letter_alarm(f"DeadLetters-{name}", task_queue.dead_letter_queue, f"queue {name!r}")
            self._alarm(
                f"OldestMessage-{name}",
                task_queue.queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum"),
                threshold=age_alarm_seconds,
                description=f"Squall {app_name}: a task on queue {name!r} has waited over {age_alarm_seconds} s",
            )
        self._dead_letter_alarm("DeadLetters-scheduler", scheduler_dead_letter_queue, "EventBridge Scheduler")
        self._alarm(
            "WorkerErrors",
            function.metric_errors(period=PERIOD, statistic="Sum"),
            threshold=1,
            description=f"Squall {app_name}: the worker failed whole invocations (crash, timeout, bad config)",
        )
        self._alarm(
            "WorkerThrottles",
            function.metric_throttles(period=PERIOD, statistic="Sum"),
            threshold=1,
            description=f"Squall {app_name}: the worker was throttled (account concurrency exhausted)",
        )
        self._alarm(
            "IntakeOldestMessage",
            intake.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum"),
            threshold=INTAKE_AGE_ALARM_SECONDS,
            description=(
                f"Squall {app_name}: a message SQS moved to the intake queue has waited over "
                f"{INTAKE_AGE_ALARM_SECONDS} s unreconciled (the reconciler is failing; its task is not yet DEAD)"
            ),
        )
        self._alarm(
            "ReconcilerErrors",
            reconciler.metric_errors(period=PERIOD, statistic="Sum"),
            threshold=1,
            description=f"Squall {app_name}: the reconciler failed whole invocations (crash, timeout, bad config)",
        )
        self.dashboard = self._dashboard(app_name, queues, function, intake, reconciler, scheduler_dead_letter_queue)

    def _dead_letter_alarm(self, construct_id: str, queue: sqs.IQueue, what: str) -> None:
        self._alarm(
            construct_id,
            queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
            threshold=1,
            description=f"Squall {self.app_name}: messages are waiting in the dead-letter queue of {what}",
        )

    def _alarm(self, construct_id: str, metric: cloudwatch.Metric, *, threshold: int, description: str) -> None:
        alarm = metric.create_alarm(
            self,
            construct_id,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            # No data means an idle queue or function, which is healthy.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        if self.topic is not None:
            alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(alarm)

    def _dashboard(
        self,
        app_name: str,
        queues: Sequence[TaskQueue],
        function: lambda_.IFunction,
        intake: sqs.IQueue,
        reconciler: lambda_.IFunction,
        scheduler_dead_letter_queue: sqs.IQueue,
    ) -> cloudwatch.Dashboard:
        minute = Duration.minutes(1)
        outcomes = [
            cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=metric_name,
                dimensions_map={SERVICE_DIMENSION: app_name},
                statistic="Sum",
                period=minute,
                label=metric_name,
            )
            for metric_name in OUTCOME_METRICS.values()
        ]
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"squall-{app_name}")
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Task outcomes (per minute)", left=outcomes, width=24, stacked=True)
        )
        dashboard.add_widgets(
            *(
                cloudwatch.GraphWidget(
                    title=f"Queue {q.resource.name}: depth and oldest message age",
                    left=[
                        q.queue.metric_approximate_number_of_messages_visible(period=minute, label="waiting"),
                        q.queue.metric_approximate_number_of_messages_not_visible(period=minute, label="in flight"),
                    ],
                    right=[q.queue.metric_approximate_age_of_oldest_message(period=minute, label="age (s)")],
                    width=12,
                )
                for q in queues
            )
        )
        dead_letters = [
            q.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=minute, statistic="Maximum", label=q.resource.name
            )
            for q in queues
        ]
        dead_letters.append(
            scheduler_dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=minute, statistic="Maximum", label="scheduler"
            )
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Dead-letter queue depth", left=dead_letters, width=8),
            cloudwatch.GraphWidget(
                title="Worker duration (ms)",
                left=[
                    function.metric_duration(period=minute, statistic="Average", label="average"),
                    function.metric_duration(period=minute, statistic="p99", label="p99"),
                    function.metric_duration(period=minute, statistic="Maximum", label="maximum"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Worker invocations, errors, throttles",
                left=[
                    function.metric_invocations(period=minute, statistic="Sum", label="invocations"),
                    function.metric_errors(period=minute, statistic="Sum", label="errors"),
                    function.metric_throttles(period=minute, statistic="Sum", label="throttles"),
                ],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Intake (moved by SQS after maxReceiveCount): depth and oldest message age",
                left=[intake.metric_approximate_number_of_messages_visible(period=minute, label="waiting")],
                right=[intake.metric_approximate_age_of_oldest_message(period=minute, label="age (s)")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Reconciler invocations, errors",
                left=[
                    reconciler.metric_invocations(period=minute, statistic="Sum", label="invocations"),
                    reconciler.metric_errors(period=minute, statistic="Sum", label="errors"),
                ],
                width=12,
            ),
        )
        return dashboard
