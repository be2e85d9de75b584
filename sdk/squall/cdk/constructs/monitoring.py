"""Alarms and a dashboard for one app: queue depth and age, dead letters, task outcomes, the worker and the
reconciler."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from squall.cdk import policies
from squall.cdk.constructs.queues import TaskQueue
from squall.worker.metrics import METRICS_NAMESPACE, OUTCOME_METRICS, SERVICE_DIMENSION

#: Alarm evaluation period: SQS publishes queue metrics every minute; five smooth out polling gaps.
PERIOD = Duration.minutes(5)
#: The dashboard's resolution: one point a minute, as often as SQS publishes.
MINUTE = Duration.minutes(1)
#: Alarm when a message has waited this long on the intake queue, in seconds (15 minutes). The reconciler
#: drains it within seconds, so a message that waits longer means the reconciler is failing. SQS's
#: ApproximateAgeOfOldestMessage counts from when a message was moved there, not from its original send.
INTAKE_AGE_ALARM_SECONDS = 15 * 60
#: Days KMS waits before deleting the alarm topic's key once the stack is gone (7-30): the shortest, as the key
#: protects only notifications in transit, which SNS does not keep.
KEY_DELETION_WINDOW_DAYS = 7


@dataclass(frozen=True)
class _Watched:
    """What the dashboard of one app shows: its queues, both functions, the intake queue and the scheduler's DLQ."""

    queues: list[TaskQueue]
    worker: lambda_.IFunction
    intake: sqs.IQueue
    reconciler: lambda_.IFunction
    scheduler_dead_letter_queue: sqs.IQueue
    #: The functions of the queues with their own sizing, by queue.
    queue_workers: Mapping[str, lambda_.IFunction] = field(default_factory=dict)
    #: The FIFO queues' intake queue, if the app has FIFO queues.
    fifo_intake: sqs.IQueue | None = None


class Monitoring(Construct):
    """CloudWatch alarms, a dashboard, and where the alarms notify: nobody, a topic of your own
    (``alarm_topic_arn``), or an email through a topic encrypted with a key CloudWatch may use (``alarm_email``).

    ``.topic`` is the topic the alarms notify, if any; ``.topic_key`` the key of the topic created here.
    """

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
        alarm_topic_arn: str | None = None,
        alarm_topic: sns.ITopic | None = None,
        service_name: str | None = None,
        dashboard_name: str | None = None,
        queue_workers: Mapping[str, lambda_.IFunction] | None = None,
        fifo_intake: sqs.IQueue | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.app_name = app_name
        #: The worker's Powertools service name, its metrics' ``service`` dimension: the deployment's name
        #: (``<app>-<stage>``), so that two stages' metrics stay apart.
        self.service_name = service_name or app_name
        self.dashboard_name = dashboard_name or f"squall-{app_name}"
        #: What the dashboard shows.
        queue_workers = dict(queue_workers or {})
        self.watched = _Watched(
            list(queues), function, intake, reconciler, scheduler_dead_letter_queue, queue_workers, fifo_intake
        )
        self.topic: sns.ITopic | None = None
        self.topic_key: kms.Key | None = None
        if alarm_topic is not None:
            # The deployer's own topic: its policy and key are theirs to make admit CloudWatch (docs/deploy.md).
            self.topic = alarm_topic
        elif alarm_topic_arn:
            # Its policy and key are its owner's: Squall cannot make them admit CloudWatch (docs/deploy.md).
            self.topic = sns.Topic.from_topic_arn(self, "AlarmTopic", alarm_topic_arn)
        elif alarm_email:
            self.topic, self.topic_key = self._email_topic(alarm_email)
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
        for queue, worker in queue_workers.items():  # each queue's own function, alarmed as the default worker
            self._alarm(
                f"WorkerErrors-{queue}",
                worker.metric_errors(period=PERIOD, statistic="Sum"),
                threshold=1,
                description=f"Squall {app_name}: queue {queue!r}'s worker failed whole invocations (crash, timeout)",
            )
            self._alarm(
                f"WorkerThrottles-{queue}",
                worker.metric_throttles(period=PERIOD, statistic="Sum"),
                threshold=1,
                description=(
                    f"Squall {app_name}: queue {queue!r}'s worker was throttled (its reserved concurrency or the "
                    "account's is exhausted)"
                ),
            )
        intakes = [("IntakeOldestMessage", intake, "intake queue")]
        if fifo_intake is not None:  # the same alarm on the FIFO queues' intake
            intakes.append(("FifoIntakeOldestMessage", fifo_intake, "FIFO intake queue"))
        for alarm_id, queue_construct, what in intakes:
            self._alarm(
                alarm_id,
                queue_construct.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum"),
                threshold=INTAKE_AGE_ALARM_SECONDS,
                description=(
                    f"Squall {app_name}: a message SQS moved to the {what} has waited over "
                    f"{INTAKE_AGE_ALARM_SECONDS} s unreconciled (the reconciler is failing; its task is not yet DEAD)"
                ),
            )
        self._alarm(
            "ReconcilerErrors",
            reconciler.metric_errors(period=PERIOD, statistic="Sum"),
            threshold=1,
            description=f"Squall {app_name}: the reconciler failed whole invocations (crash, timeout, bad config)",
        )
        self.dashboard = self._dashboard()

    def _email_topic(self, email: str) -> tuple[sns.Topic, kms.Key]:
        """A TLS-only topic under a customer managed key, both admitting CloudWatch's alarms, and the email.

        CloudWatch publishes alarm notifications as the service principal ``cloudwatch.amazonaws.com``: SNS then
        needs a topic policy that allows it and, for an encrypted topic, a key whose policy lets it make and read
        data keys. With neither, alarms fire and no email is ever sent. A customer managed key costs $1 a month.
        """
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"Squall {self.app_name}: encrypts alarm notifications (CloudWatch may use it)",
            enable_key_rotation=True,
            pending_window=Duration.days(KEY_DELETION_WINDOW_DAYS),
            removal_policy=RemovalPolicy.DESTROY,
        )
        stack = Stack.of(self)
        key.add_to_resource_policy(policies.cloudwatch_uses_topic_key(sid="CloudWatchAlarmsEncrypt", stack=stack))
        topic = sns.Topic(
            self, "AlarmTopic", display_name=f"Squall {self.app_name} alarms", master_key=key, enforce_ssl=True
        )
        topic.add_to_resource_policy(
            policies.cloudwatch_publishes_alarms(sid="CloudWatchAlarmsPublish", topic=topic, stack=stack)
        )
        topic.add_subscription(subscriptions.EmailSubscription(email))
        return topic, key

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

    def _dashboard(self) -> cloudwatch.Dashboard:
        watched = self.watched
        queues, function, reconciler = watched.queues, watched.worker, watched.reconciler
        outcomes = [
            cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=metric_name,
                dimensions_map={SERVICE_DIMENSION: self.service_name},
                statistic="Sum",
                period=MINUTE,
                label=metric_name,
            )
            for metric_name in dict.fromkeys(OUTCOME_METRICS.values())  # once each: two outcomes share one
        ]
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=self.dashboard_name)
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Task outcomes (per minute)", left=outcomes, width=24, stacked=True)
        )
        dashboard.add_widgets(
            *(
                _depth_and_age(f"Queue {q.resource.name}: depth and oldest message age", q.queue, in_flight=True)
                for q in queues
            )
        )
        dead_letters = [
            queue.metric_approximate_number_of_messages_visible(period=MINUTE, statistic="Maximum", label=label)
            for label, queue in [
                *((q.resource.name, q.dead_letter_queue) for q in queues),
                ("scheduler", watched.scheduler_dead_letter_queue),
            ]
        ]
        durations = [
            function.metric_duration(period=MINUTE, statistic=statistic, label=label)
            for statistic, label in (("Average", "average"), ("p99", "p99"), ("Maximum", "maximum"))
        ]
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Dead-letter queue depth", left=dead_letters, width=8),
            cloudwatch.GraphWidget(title="Worker duration (ms)", left=durations, width=8),
            cloudwatch.GraphWidget(
                title="Worker invocations, errors, throttles", left=_invocations(function, throttles=True), width=8
            ),
        )
        for queue, worker in watched.queue_workers.items():
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"Queue {queue!r} worker duration (ms)",
                    left=[
                        worker.metric_duration(period=MINUTE, statistic=statistic, label=statistic)
                        for statistic in ("Average", "p99", "Maximum")
                    ],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title=f"Queue {queue!r} worker invocations, errors, throttles",
                    left=_invocations(worker, throttles=True),
                    width=12,
                ),
            )
        dashboard.add_widgets(
            _depth_and_age(
                "Intake (moved by SQS after maxReceiveCount): depth and oldest message age",
                watched.intake,
                in_flight=False,
            ),
            cloudwatch.GraphWidget(
                title="Reconciler invocations, errors", left=_invocations(reconciler, throttles=False), width=12
            ),
        )
        if watched.fifo_intake is not None:
            dashboard.add_widgets(
                _depth_and_age("FIFO intake: depth and oldest message age", watched.fifo_intake, in_flight=False)
            )
        return dashboard


def _depth_and_age(title: str, queue: sqs.IQueue, *, in_flight: bool) -> cloudwatch.GraphWidget:
    """A half-width graph of a queue's waiting (and, if asked, in-flight) messages and its oldest message's age."""
    depth = [queue.metric_approximate_number_of_messages_visible(period=MINUTE, label="waiting")]
    if in_flight:
        depth.append(queue.metric_approximate_number_of_messages_not_visible(period=MINUTE, label="in flight"))
    age = queue.metric_approximate_age_of_oldest_message(period=MINUTE, label="age (s)")
    return cloudwatch.GraphWidget(title=title, left=depth, right=[age], width=12)


def _invocations(function: lambda_.IFunction, *, throttles: bool) -> list[cloudwatch.IMetric]:
    """A function's invocations and errors (and throttles, if asked), summed per minute."""
    metrics = {"invocations": function.metric_invocations, "errors": function.metric_errors}
    if throttles:
        metrics["throttles"] = function.metric_throttles
    return [metric(period=MINUTE, statistic="Sum", label=label) for label, metric in metrics.items()]
