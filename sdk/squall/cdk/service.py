""":class:`SquallService`: everything one Squall app runs on, as one construct for a CDK app of your own.

It creates the resources (the constructs in :mod:`squall.cdk.constructs`), the settings document producers read,
and the two functions on one code bundle: the worker consumes the app's queues, and the reconciler consumes the
intake queue, where the source queues' redrive policies move what the worker never acted on. Every grant is in
:mod:`squall.cdk.grants`; every number comes from :func:`squall.deploy.topology.describe`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from aws_cdk import Annotations, RemovalPolicy, Stack, Stage
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from squall import config
from squall.app import Squall
from squall.cdk import environment as environment_module
from squall.cdk import grants, packaging, workers
from squall.cdk.constructs import (
    BundleProps,
    ExtensionResources,
    IntakeQueue,
    Monitoring,
    SquallFunction,
    TaskQueue,
    TaskScheduler,
    TaskTable,
)
from squall.cdk.constructs.api import ApiProps, TaskApi
from squall.cdk.constructs.function import LOG_FORMATS, powertools_layer_arn, staged_bundle
from squall.cdk.constructs.payloads import PayloadBucket
from squall.cdk.names import (
    ENV_CONFIG_BUDGET_BYTES,
    SSM_STANDARD_MAX_BYTES,
    check_document_size,
    check_names,
    concurrency_warning,
)
from squall.cdk.options import DeployOptions
from squall.deploy.context import APP, QUEUES
from squall.deploy.topology import Topology, describe, resource_prefix
from squall.errors import ConfigurationError
from squall.offload import bucket as payloads


class SquallService(Construct):
    """Everything one Squall app runs on: queues, worker, reconciler, table, scheduler, alarms, policies.

    In your own stack::

        SquallService(self, "Tasks", app="tasks:app", code=".", requirements="requirements.txt", stage="prod")

    ``app`` is the app as ``module:attribute`` (imported from ``code`` at synth, and by the worker on Lambda), or
    a :class:`~squall.Squall` object with ``options`` naming its ``app_spec``. ``code`` (default: the current
    directory) and ``requirements`` are resolved against the current directory; ``options`` carries every other
    setting ``squall:*`` context keys can give (docs/deploy.md), and the keyword arguments given here win.
    ``environment`` and ``policy_statements`` are for what your tasks need (other AWS services): the worker gets
    both. ``alarm_topic`` is an existing topic for the alarms (its policy and key must admit CloudWatch);
    ``encryption_key`` a customer managed key for the queues and the table (every role here is granted its use
    through SQS and DynamoDB only); ``vpc`` places both functions in a VPC (they then reach SQS, DynamoDB, SSM and
    EventBridge Scheduler through its NAT or VPC endpoints).

    Every resource is a public attribute: ``queues`` and ``dead_letter_queues`` (SQS queues by logical name; a
    queue with priority lanes has one of each per lane, named ``<queue>:<lane>``), ``table``, ``functions``
    (``"worker"``, ``"reconciler"``, and ``"worker:<queue>"`` of each ``queue_workers`` entry: a queue with its own
    sizing), ``intake`` and ``fifo_intake`` (None without FIFO queues), ``scheduler``, ``parameter``,
    ``producer_policy``, ``operator_policy``, ``alarm_topic``, ``dashboard``, ``extension_resources``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        app: str | Squall,
        options: DeployOptions | None = None,
        code: str | Path | Sequence[str | Path] | None = None,
        requirements: str | Path | None = None,
        stage: str | None = None,
        environment: Mapping[str, str] | None = None,
        policy_statements: Sequence[iam.PolicyStatement] = (),
        alarm_topic: sns.ITopic | None = None,
        encryption_key: kms.IKey | None = None,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        log_retention_days: int | None = None,
        log_format: str = "JSON",
    ) -> None:
        super().__init__(scope, construct_id)
        options = _options(
            app, options, code=code, requirements=requirements, stage=stage, log_retention_days=log_retention_days
        )
        squall_app = app if isinstance(app, Squall) else options.load_app()
        self.app, self.options = squall_app, options
        if options.stage and squall_app.stage and options.stage != squall_app.stage:
            raise ConfigurationError(
                f"stage {options.stage!r} is deployed, but app {squall_app.name!r} names stage {squall_app.stage!r} "
                "(Squall(stage=...) or SQUALL_STAGE): drop one"
            )
        #: The deployment's stage (None: unstaged); every physical name carries it.
        self.stage = options.stage or squall_app.stage
        _check_app_spec(options, squall_app)
        if log_format not in LOG_FORMATS:
            raise ConfigurationError(f"log_format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
        self.topology: Topology = describe(squall_app, options.sizing, options.queue_overrides, stage=self.stage)
        check_names(self.topology)
        if (warning := concurrency_warning(self.topology)) is not None:
            Annotations.of(self).add_warning_v2("squall:concurrency", warning)
        self.encryption_key = encryption_key
        # Stateful resources have fixed names: Retain would keep what a failed first deploy made, failing its retry
        # ("already exists"). RetainExceptOnCreate deletes that and keeps the resource on later updates and deletes.
        keep = options.removal_policy == "retain"
        removal = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE if keep else RemovalPolicy.DESTROY

        # One intake queue for the whole app: several source queues may share one redrive target.
        self.intake = IntakeQueue(
            self, "Intake", resource=self.topology.intake, removal_policy=removal, encryption_key=encryption_key
        ).queue
        #: The FIFO queues' redrive target (a FIFO queue's must be FIFO); None for an app without FIFO queues.
        self.fifo_intake: sqs.Queue | None = None
        if (fifo_intake := self.topology.fifo_intake) is not None:
            made = IntakeQueue(
                self, "FifoIntake", resource=fifo_intake, removal_policy=removal, encryption_key=encryption_key
            )
            self.fifo_intake = made.queue
        self.task_queues = {
            resource.name: TaskQueue(
                self,
                f"Queue-{resource.name}",
                resource=resource,
                intake=self.intake,
                fifo_intake=self.fifo_intake,
                removal_policy=removal,
                encryption_key=encryption_key,
            )
            for resource in self.topology.queues
        }
        self.queues: dict[str, sqs.Queue] = {name: q.queue for name, q in self.task_queues.items()}
        self.dead_letter_queues: dict[str, sqs.Queue] = {
            name: q.dead_letter_queue for name, q in self.task_queues.items()
        }
        self.table = TaskTable(
            self,
            "Tasks",
            resource=self.topology.table,
            removal_policy=removal,
            deletion_protection=options.protects_tables,
            encryption_key=encryption_key,
        ).table
        self.scheduler = TaskScheduler(
            self,
            "Scheduler",
            topology=self.topology,
            # A queue with lanes is scheduled onto its default lane (a periodic task names the queue, not a lane).
            queues={
                **self.queues,
                **{
                    name: self.queues[config.lane_key(name, lanes.default)]
                    for name, lanes in self.topology.lanes.items()
                },
            },
            removal_policy=removal,
            encryption_key=encryption_key,
        )
        # Periodic tasks declared with @app.periodic, exactly as the Topology describes them.
        self.schedules = [self.scheduler.add_schedule(resource) for resource in self.topology.schedules]
        # What the app's extensions declare (Extension.resources()); the worker's grants on them are in grants.
        self.extension_resources = ExtensionResources(
            self,
            "Extensions",
            tables=self.topology.extension_tables,
            buckets=self.topology.extension_buckets,
            removal_policy=removal,
            deletion_protection=options.protects_tables,
            log_retention_days=options.log_retention_days,
        )
        # Where large arguments and results are offloaded (squall.offload); lifetimes derived there, grants in grants.
        self.payloads = PayloadBucket(
            self,
            "Payloads",
            name_prefix=payloads.name_prefix(squall_app.name, self.stage),
            arguments_days=payloads.expiration_days(payloads.ARGUMENTS_LIFETIME_SECONDS),
            delayed_arguments_days=payloads.expiration_days(payloads.DELAYED_ARGUMENTS_LIFETIME_SECONDS),
            results_days=payloads.expiration_days(payloads.results_lifetime_seconds(squall_app)),
            removal_policy=removal,
        )

        # The Settings document (squall.config) built from the deployed resources' tokens: producers read
        # it from the SSM parameter, the worker from SQUALL_CONFIG.
        self.settings = config.Settings(
            app=squall_app.name,
            stage=self.stage,
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
                for name, q in self.task_queues.items()
            },
            schedule_group=self.topology.schedule_group,
            scheduler_role_arn=self.scheduler.role.role_arn,
            scheduler_dlq_arn=self.scheduler.dead_letter_queue.queue_arn,
            intake_url=self.intake.queue_url,
            intake_arn=self.intake.queue_arn,
            lanes=self.topology.lanes,
            payload_bucket=self.payloads.bucket.bucket_name,
        )
        document = Stack.of(self).to_json_string(self.settings.to_document())
        size = check_document_size(self.topology)
        self.parameter = ssm.StringParameter(
            self,
            "Settings",
            parameter_name=config.parameter_name(squall_app.name, self.stage),
            string_value=document,
            description=f"Squall settings of app {self.deployment_name} (squall.config.Settings document)",
            tier=ssm.ParameterTier.STANDARD if size <= SSM_STANDARD_MAX_BYTES else ssm.ParameterTier.ADVANCED,
        )

        # The worker and the reconciler share the bundle, the environment and the signing-key grant.
        function_environment = environment_module.squall_environment(options, self.deployment_name, self.stage)
        if size <= ENV_CONFIG_BUDGET_BYTES:
            function_environment[config.ENV_CONFIG] = document
        else:
            function_environment[config.ENV_CONFIG_PARAMETER] = self.parameter.parameter_name
        self.environment = function_environment
        shared = BundleProps(
            bundle=staged_bundle(self, options.code, options.requirements, _outdirs(self)),
            tracing=options.tracing,
            environment=function_environment,
            extra_environment=environment_module.checked_environment(environment or {}),
            log_retention_days=options.log_retention_days,
            log_format=log_format,
            removal_policy=removal,
            powertools_layer_arn=options.powertools_layer_arn or powertools_layer_arn(self),
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=tuple(security_groups or ()),
        )
        self.worker = workers.default_worker(
            self, shared=shared, topology=self.topology, deployment_name=self.deployment_name
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
        #: The functions of the queues that declare their own sizing, by queue (squall.cdk.workers).
        self.queue_workers = workers.queue_workers(
            self, shared=shared, topology=self.topology, deployment_name=self.deployment_name
        )
        self.functions: dict[str, lambda_.Function] = {
            "worker": self.worker.function,
            "reconciler": self.reconciler.function,
            **{f"worker:{queue}": worker.function for queue, worker in self.queue_workers.items()},
        }
        #: The webhook secret's reference the app declares (``Squall(webhook_secret="ssm:...")``): only the
        #: worker delivers HTTP targets, so only it gets the variable and the read grant (grants.py).
        self.webhook_secret = squall_app.http_targets.keys.reference
        if self.webhook_secret:
            for worker in workers.every_worker(self):
                worker.function.add_environment(config.ENV_WEBHOOK_SECRET, self.webhook_secret)
        grants.grant_functions(self)
        for statement in policy_statements:
            for worker in workers.every_worker(self):
                worker.function.add_to_role_policy(statement)
        self.producer_policy = grants.producer_policy(self)
        self.operator_policy = grants.operator_policy(self)
        #: The REST API's front door when ``squall:api`` enables it (squall.cdk.constructs.api); its grants: grants.
        self.api: TaskApi | None = None
        if options.api is not None:
            self.api = TaskApi(
                self,
                "Api",
                shared=shared,
                props=ApiProps(
                    auth=options.api,
                    rate_limit=options.api_rate_limit,
                    burst_limit=options.api_burst_limit,
                    log_retention_days=options.log_retention_days,
                    removal_policy=removal,
                ),
                deployment_name=self.deployment_name,
            )
            grants.grant_api(self, self.api)

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            app_name=squall_app.name,
            service_name=self.deployment_name,
            # Dashboards are account-wide (not regional): the name carries the Region, so that one app's
            # deployments in two Regions can both have theirs.
            dashboard_name=f"{resource_prefix(squall_app.name, self.stage)}-{Stack.of(self).region}",
            queues=list(self.task_queues.values()),
            function=self.worker.function,
            queue_workers={queue: worker.function for queue, worker in self.queue_workers.items()},
            intake=self.intake,
            fifo_intake=self.fifo_intake,
            reconciler=self.reconciler.function,
            scheduler_dead_letter_queue=self.scheduler.dead_letter_queue,
            age_alarm_seconds=options.age_alarm_seconds,
            alarm_email=options.alarm_email,
            alarm_topic_arn=options.alarm_topic_arn,
            alarm_topic=alarm_topic,
        )
        self.alarm_topic: sns.ITopic | None = self.monitoring.topic
        self.dashboard: cloudwatch.Dashboard = self.monitoring.dashboard

    @property
    def deployment_name(self) -> str:
        """The app and its stage as physical names carry them: ``shop`` or ``shop-prod``."""
        return config.deployment_name(self.app.name, self.stage)


def _options(
    app: str | Squall,
    options: DeployOptions | None,
    *,
    code: str | Path | Sequence[str | Path] | None,
    requirements: str | Path | None,
    stage: str | None,
    log_retention_days: int | None,
) -> DeployOptions:
    """The deployment's options: ``options`` (or, from an app spec, the defaults) with the keyword arguments on top."""
    if options is None:
        if not isinstance(app, str):
            raise ConfigurationError(
                f"SquallService(app=<Squall {app.name}>) needs options=DeployOptions(app_spec='module:attribute') "
                "to tell the worker where to import the app from; or pass app='module:attribute'"
            )
        options = DeployOptions(app_spec=app)
    elif isinstance(app, str) and app != options.app_spec:
        raise ConfigurationError(f"app={app!r} and options.app_spec={options.app_spec!r} differ: give one")
    changes: dict[str, object] = {}
    if code is not None:
        paths = [code] if isinstance(code, (str, Path)) else list(code)
        changes["code"] = tuple(Path(path).resolve() for path in paths)
    if requirements is not None:
        changes["requirements"] = Path(requirements).resolve()
    if stage is not None:
        changes["stage"] = stage
    if log_retention_days is not None:
        changes["log_retention_days"] = log_retention_days
    return replace(options, **changes) if changes else options  # type: ignore[arg-type]


def _outdirs(scope: Construct) -> list[Path]:
    """The directory the CDK app synthesizes into: never shipped from a source root (it grows with every synth)."""
    stage = Stage.of(scope)
    return [] if stage is None else [Path(stage.outdir)]


def _check_app_spec(options: DeployOptions, app: Squall) -> None:
    """Refuse an ``app_spec`` naming another object than the app deployed: the worker would import the wrong app."""
    module_name, _, attribute = options.app_spec.partition(":")
    unknown = sorted(set(options.queue_overrides) - set(app.queues))
    if unknown:
        raise ConfigurationError(f"{QUEUES} names queues app {app.name!r} does not declare: {unknown}")
    if getattr(sys.modules.get(module_name), attribute, app) is not app:
        raise ConfigurationError(
            f"{APP}={options.app_spec!r} names another object than the app {app.name!r} being deployed; "
            "the worker would import the wrong app"
        )
