"""Squall's deployment: :class:`SquallService` wires the constructs; :class:`SquallStack` holds one.

Every grant, environment variable and policy is written here, so the whole IAM surface of a
deployment reads in this one file. Every number comes from :func:`squall.deploy.topology.describe`.

Two functions run on one code bundle: the worker consumes the app's queues, and the reconciler consumes
the intake queue, where the source queues' redrive policies move what the worker never acted on.
"""

from __future__ import annotations

import sys
from typing import Any

from aws_cdk import Annotations, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra import packaging, policies
from infra.constructs import (
    BundleProps,
    ExtensionResources,
    IntakeQueue,
    Monitoring,
    SquallFunction,
    TaskQueue,
    TaskScheduler,
    TaskTable,
)
from infra.constructs.function import powertools_layer_arn
from infra.names import (
    ENV_CONFIG_BUDGET_BYTES,
    SSM_STANDARD_MAX_BYTES,
    check_document_size,
    check_names,
    concurrency_warning,
)
from infra.names import estimated_document_bytes as estimated_document_bytes  # re-exported: tests read it here
from infra.options import APP, QUEUES, DeployOptions
from squall import config
from squall.app import Squall
from squall.deploy.topology import Topology, describe
from squall.errors import ConfigurationError
from squall.worker.metrics import METRICS_NAMESPACE


class SquallService(Construct):
    """Everything one Squall app runs on: queues, worker, reconciler, table, scheduler, alarms, policies.

    Use it inside your own stack (see docs/deploy.md), or deploy :class:`SquallStack` with ``cdk deploy``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, app: Squall, options: DeployOptions) -> None:
        super().__init__(scope, construct_id)
        unknown = sorted(set(options.queue_overrides) - set(app.queues))
        if unknown:
            raise ConfigurationError(f"{QUEUES} names queues app {app.name!r} does not declare: {unknown}")
        module_name, _, attribute = options.app_spec.partition(":")
        if getattr(sys.modules.get(module_name), attribute, app) is not app:
            raise ConfigurationError(
                f"{APP}={options.app_spec!r} names another object than the app {app.name!r} being deployed; "
                "the worker would import the wrong app"
            )
        self.topology: Topology = describe(app, options.sizing, options.queue_overrides)
        check_names(self.topology)
        if (warning := concurrency_warning(self.topology)) is not None:
            Annotations.of(self).add_warning_v2("squall:concurrency", warning)
        # Stateful resources have fixed names: Retain would keep what a failed first deploy made, failing its retry
        # ("already exists"). RetainExceptOnCreate deletes that and keeps the resource on later updates and deletes.
        keep = options.removal_policy == "retain"
        removal = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE if keep else RemovalPolicy.DESTROY

        # One intake queue for the whole app: several source queues may share one redrive target.
        self.intake = IntakeQueue(self, "Intake", resource=self.topology.intake, removal_policy=removal).queue
        self.queues = {
            resource.name: TaskQueue(
                self, f"Queue-{resource.name}", resource=resource, intake=self.intake, removal_policy=removal
            )
            for resource in self.topology.queues
        }
        self.table = TaskTable(
            self,
            "Tasks",
            resource=self.topology.table,
            removal_policy=removal,
            deletion_protection=options.protects_tables,
        ).table
        self.scheduler = TaskScheduler(
            self,
            "Scheduler",
            topology=self.topology,
            queues={name: q.queue for name, q in self.queues.items()},
            removal_policy=removal,
        )
        # Periodic tasks declared with @app.periodic, exactly as the Topology describes them.
        self.schedules = [self.scheduler.add_schedule(resource) for resource in self.topology.schedules]
        # What the app's extensions declare (Extension.resources()); the worker's grants on them are below.
        self.extension_resources = ExtensionResources(
            self,
            "Extensions",
            tables=self.topology.extension_tables,
            buckets=self.topology.extension_buckets,
            removal_policy=removal,
            deletion_protection=options.protects_tables,
            log_retention_days=options.log_retention_days,
        )

        # The Settings document (squall.config) built from the deployed resources' tokens: producers read
        # it from the SSM parameter, the worker from SQUALL_CONFIG.
        self.settings = config.Settings(
            app=app.name,
            region=Stack.of(self).region,
            table=self.table.table_name,
            queues={
                name: config.QueueAddress(
                    q.queue.queue_url,
                    q.queue.queue_arn,
                    q.dead_letter_queue.queue_url,
                    q.dead_letter_queue.queue_arn,
                    q.resource.max_receive_count,
                )
                for name, q in self.queues.items()
            },
            schedule_group=self.topology.schedule_group,
            scheduler_role_arn=self.scheduler.role.role_arn,
            scheduler_dlq_arn=self.scheduler.dead_letter_queue.queue_arn,
            intake_url=self.intake.queue_url,
            intake_arn=self.intake.queue_arn,
        )
        document = Stack.of(self).to_json_string(self.settings.to_document())
        size = check_document_size(self.topology)
        self.parameter = ssm.StringParameter(
            self,
            "Settings",
            parameter_name=config.parameter_name(app.name),
            string_value=document,
            description=f"Squall settings of app {app.name} (squall.config.Settings document)",
            tier=ssm.ParameterTier.STANDARD if size <= SSM_STANDARD_MAX_BYTES else ssm.ParameterTier.ADVANCED,
        )

        # The worker and the reconciler share the bundle, the environment and the signing-key grant.
        environment = {
            config.ENV_APP: options.app_spec,
            "POWERTOOLS_SERVICE_NAME": app.name,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        }
        if options.signing_parameter:
            environment[config.ENV_SIGNING] = options.signing_parameter
        if size <= ENV_CONFIG_BUDGET_BYTES:
            environment[config.ENV_CONFIG] = document
        else:
            environment[config.ENV_CONFIG_PARAMETER] = self.parameter.parameter_name
        shared = BundleProps(
            bundle=packaging.stage_bundle(options.code, requirements=options.requirements),
            environment=environment,
            log_retention_days=options.log_retention_days,
            removal_policy=removal,
            powertools_layer_arn=options.powertools_layer_arn or powertools_layer_arn(self),
        )
        self.worker = SquallFunction(
            self,
            "Worker",
            shared=shared,
            handler=packaging.HANDLER,
            timeout=self.topology.sizing.timeout,
            memory=self.topology.sizing.memory,
            description="Squall worker: runs the app's tasks from its SQS queues",
            # Retries and follow-up tasks are messages the worker sends to the queues it consumes: a loop by
            # design, which Lambda's recursive-loop detection (on by default) stops after about 16 hops of one
            # chain, i.e. near a task's 16th retry. Squall bounds the loop itself: the worker counts a task's
            # attempts and caps them (squall.limits.MAX_RETRIES_CEILING).
            recursive_loop=lambda_.RecursiveLoop.ALLOW,
        )
        self.reconciler = SquallFunction(
            self,
            "Reconciler",
            shared=shared,
            handler=packaging.RECONCILER_HANDLER,
            function_name=self.topology.intake.function_name,
            timeout=self.topology.intake.timeout,
            memory=self.topology.intake.memory,
            description="Squall reconciler: records as DEAD what SQS moved to the intake queue, then dead-letters it",
        )
        function = self.worker.function
        reconciler = self.reconciler.function
        stack, group = Stack.of(self), self.topology.schedule_group
        sources = [q.queue for q in self.queues.values()]
        dead_letters = [q.dead_letter_queue for q in self.queues.values()]
        # Statements granted in more than one place, built once.
        read_settings = policies.read_parameter(sid="ReadSettings", arn=self.parameter.parameter_arn)
        read_keys = policies.read_signing_keys(sid="ReadSigningKeys", stack=stack, reference=options.signing_parameter)
        pass_scheduler_role = policies.pass_role(
            sid="PassSchedulerRole", role=self.scheduler.role, to_service="scheduler.amazonaws.com"
        )

        # --- the worker's permissions ---------------------------------------------------------------------
        for q in self.queues.values():
            # The event source grants Receive/Delete/ChangeMessageVisibility/GetQueueAttributes/GetQueueUrl.
            # Squall uses ChangeMessageVisibility only to keep a message it cannot start yet (not due, its
            # signing keys unreadable, too little time left); a retry is a new message, not a delayed one.
            function.add_event_source(
                event_sources.SqsEventSource(
                    q.queue,
                    batch_size=q.resource.batch_size,
                    max_batching_window=(
                        Duration.seconds(q.resource.batching_window) if q.resource.batching_window else None
                    ),
                    max_concurrency=q.resource.max_concurrency,
                    report_batch_item_failures=True,
                )
            )
        # The worker dead-letters exhausted tasks itself; retries (DelaySeconds up to 900 s) and the
        # tasks that tasks enqueue are new messages on the app's queues.
        function.add_to_role_policy(policies.on_queues(actions=["sqs:SendMessage"], queues=[*sources, *dead_letters]))
        # A retry due more than SQS's 900 s ahead is a one-time schedule (squall.sending.delays), in this app's
        # group, sent with the scheduler role; it deletes itself once it has fired.
        function.add_to_role_policy(
            policies.on_schedules(
                sid="ScheduleLongRetries", actions=["scheduler:CreateSchedule"], stack=stack, group=group
            )
        )
        function.add_to_role_policy(pass_scheduler_role)
        # Exactly the grants each extension declares on its tables and buckets (extensions run in the worker only).
        # Their names are derived where they are used (squall.deploy.topology.table_name, bucket_name).
        made = self.extension_resources
        for t in self.topology.extension_tables:
            function.add_to_role_policy(
                policies.on_extension_table(declared=t.declared, table=made.tables[t.declared.name])
            )
        for b in self.topology.extension_buckets:
            for statement in policies.on_extension_bucket(declared=b.declared, bucket=made.buckets[b.declared.name]):
                function.add_to_role_policy(statement)

        # --- the reconciler's permissions -----------------------------------------------------------------
        # Receive/Delete/ChangeMessageVisibility/GetQueueAttributes/GetQueueUrl on the intake queue only.
        reconciler.add_event_source(
            event_sources.SqsEventSource(
                self.intake,
                batch_size=self.topology.intake.batch_size,
                max_concurrency=self.topology.intake.max_concurrency,
                report_batch_item_failures=True,
            )
        )
        # It sends each message on to its source queue's DLQ.
        reconciler.add_to_role_policy(policies.on_queues(actions=["sqs:SendMessage"], queues=dead_letters))

        # --- what both functions may do ------------------------------------------------------------------
        # squall.state.store: they claim, update and read task records (a conditional UpdateItem, and a GetItem to
        # read what a failed condition found); they never put, delete or scan.
        both = [policies.on_task_records(actions=["dynamodb:UpdateItem", "dynamodb:GetItem"], table=self.table)]
        if config.ENV_CONFIG_PARAMETER in environment:
            both.append(read_settings)  # squall.app reads the settings document with GetParameter
        if read_keys is not None:
            both.append(read_keys)
        for statement in both:
            function.add_to_role_policy(statement)
            reconciler.add_to_role_policy(statement)

        # --- what producers attach -----------------------------------------------------------------------
        self.producer_policy = iam.ManagedPolicy(
            self,
            "ProducerPolicy",
            description=f"Send Squall tasks of app {app.name} and read their results",
            statements=[
                policies.on_queues(sid="SendTasks", actions=["sqs:SendMessage"], queues=sources),
                policies.on_task_records(sid="ReadResults", actions=["dynamodb:GetItem"], table=self.table),
                # A task delayed past SQS's 900 s is recorded PENDING first (TaskStore.hold): an UpdateItem naming
                # only the attributes that write names, so no producer can set a result, an error or a claim.
                # Revoking writes more (a finish time, the listing index) and is the operator policy's.
                policies.hold_task_records(sid="HoldDelayedTasks", table=self.table),
                read_settings,
                # Create/Delete/Get: long delays and app.schedules; Update: app.schedules.pause/resume.
                policies.on_schedules(
                    sid="ManageSchedules",
                    actions=[
                        "scheduler:CreateSchedule",
                        "scheduler:DeleteSchedule",
                        "scheduler:GetSchedule",
                        "scheduler:UpdateSchedule",
                    ],
                    stack=stack,
                    group=group,
                ),
                pass_scheduler_role,
                # Producers sign what they send with the keyring the worker checks against.
                *([read_keys] if read_keys is not None else []),
            ],
        )

        # --- what operators attach (the squall CLI: tasks, dlq, stats, revoke) -------------------------------
        # scheduler:ListSchedules has no resource-level permissions (granted apart, docs/deploy.md); the rest is
        # this app's only. No sqs:StartMessageMoveTask: SQS's own redrive brings back DEAD tasks the worker then
        # acknowledges unrun; `squall dlq redrive` resets each record first.
        self.operator_policy = iam.ManagedPolicy(
            self,
            "OperatorPolicy",
            description=f"Operate Squall app {app.name}: list tasks, inspect and redrive dead letters, revoke",
            statements=[
                # Query: the listing index (squall tasks, stats); UpdateItem: redrive and revoke.
                policies.on_task_records(
                    sid="ListAndResetTasks",
                    actions=["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"],
                    table=self.table,
                    index_name=self.topology.table.index_name,
                ),
                policies.on_queues(
                    sid="InspectQueues", actions=["sqs:GetQueueAttributes"], queues=[*sources, *dead_letters]
                ),
                policies.on_queues(
                    sid="RedriveDeadLetters",
                    actions=[
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:ChangeMessageVisibility",
                        "sqs:PurgeQueue",
                    ],
                    queues=dead_letters,
                ),
                policies.on_queues(sid="SendRedrivenTasks", actions=["sqs:SendMessage"], queues=sources),
                read_settings,
                policies.on_schedules(
                    sid="ManageSchedules",
                    actions=["scheduler:GetSchedule", "scheduler:DeleteSchedule", "scheduler:UpdateSchedule"],
                    stack=stack,
                    group=group,
                ),
            ],
        )

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            app_name=app.name,
            queues=list(self.queues.values()),
            function=function,
            intake=self.intake,
            reconciler=reconciler,
            scheduler_dead_letter_queue=self.scheduler.dead_letter_queue,
            age_alarm_seconds=options.age_alarm_seconds,
            alarm_email=options.alarm_email,
            alarm_topic_arn=options.alarm_topic_arn,
        )


class SquallStack(Stack):
    """The ``cdk deploy`` stack: one :class:`SquallService` and the outputs producers need."""

    def __init__(
        self, scope: Construct, construct_id: str, *, app: Squall, options: DeployOptions, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.service = SquallService(self, "Squall", app=app, options=options)
        for name, q in self.service.queues.items():
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
        extensions = self.service.extension_resources
        for name, table in extensions.tables.items():
            CfnOutput(self, f"ExtensionTable-{name}", value=table.table_name, description=f"Extension table {name!r}")
        for name, bucket in extensions.buckets.items():
            CfnOutput(
                self, f"ExtensionBucket-{name}", value=bucket.bucket_name, description=f"Extension bucket {name!r}"
            )
