"""Every grant of a Squall deployment: the worker's, the reconciler's, and the producer and operator policies.

The whole IAM surface of a deployment reads in this one file; each statement comes from a factory in
:mod:`squall.cdk.policies`, which scopes it to the resources it names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources

from squall import config
from squall.cdk import policies
from squall.cdk.workers import every_worker, worker_for
from squall.offload.reference import ARGUMENTS_PREFIXES, RESULTS_PREFIX

if TYPE_CHECKING:
    from squall.cdk.constructs.api import TaskApi
    from squall.cdk.service import SquallService

#: The services through which roles use the deployment's customer managed key (squall.cdk.policies.use_key_through).
KEY_USERS = ("sqs", "dynamodb")


#: The payload bucket's prefixes: offloaded arguments (due soon, due later), then results.
PAYLOADS = (*ARGUMENTS_PREFIXES, RESULTS_PREFIX)


class _Workers:
    """Every worker function of a deployment (the default one, and each sized queue's), granted alike."""

    def __init__(self, service: SquallService) -> None:
        self.functions = [worker.function for worker in every_worker(service)]

    def add_to_role_policy(self, statement: iam.PolicyStatement) -> None:
        """Add ``statement`` to each worker's role."""
        for function in self.functions:
            function.add_to_role_policy(statement)


def grant_functions(service: SquallService) -> None:
    """The workers' and the reconciler's event sources and permissions: each worker function consumes its own
    queues (squall.cdk.workers) and has the same permissions as every other."""
    function, reconciler = _Workers(service), service.reconciler.function
    stack, group = Stack.of(service), service.topology.schedule_group
    sources, dead_letters = list(service.queues.values()), list(service.dead_letter_queues.values())

    # --- the worker's permissions ---------------------------------------------------------------------
    for q in service.task_queues.values():
        # The event source grants Receive/Delete/ChangeMessageVisibility/GetQueueAttributes/GetQueueUrl (and
        # kms:Decrypt on a customer managed key). Squall uses ChangeMessageVisibility only to keep a message it
        # cannot start yet (not due, its signing keys unreadable, too little time left); a retry is a new message.
        worker_for(service, q.resource.queue).function.add_event_source(
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
        policies.on_schedules(sid="ScheduleLongRetries", actions=["scheduler:CreateSchedule"], stack=stack, group=group)
    )
    function.add_to_role_policy(_pass_scheduler_role(service))
    # Exactly the grants each extension declares on its tables and buckets (extensions run in the worker only).
    made = service.extension_resources
    for t in service.topology.extension_tables:
        function.add_to_role_policy(
            policies.on_extension_table(declared=t.declared, table=made.tables[t.declared.name])
        )
    for b in service.topology.extension_buckets:
        for statement in policies.on_extension_bucket(declared=b.declared, bucket=made.buckets[b.declared.name]):
            function.add_to_role_policy(statement)
    # Offloaded payloads (squall.offload): arguments are read, and written again by retries and by the tasks
    # tasks send; results are written, and read for a chord's body. The reconciler reads arguments only.
    for statement in service.payloads.statements("Payloads", read=PAYLOADS, write=PAYLOADS):
        function.add_to_role_policy(statement)
    for statement in service.payloads.statements("PayloadArguments", read=ARGUMENTS_PREFIXES):
        reconciler.add_to_role_policy(statement)

    # The webhook secret HTTP targets sign with, read by reference (squall.targets.webhooks); the worker only.
    read_webhook_secret = policies.read_signing_keys(
        sid="ReadWebhookSecret", stack=stack, reference=service.webhook_secret
    )
    if read_webhook_secret is not None:
        function.add_to_role_policy(read_webhook_secret)

    # --- the reconciler's permissions -----------------------------------------------------------------
    # Receive/Delete/ChangeMessageVisibility/GetQueueAttributes/GetQueueUrl on the intake queue only.
    intakes = [(service.intake, service.topology.intake)]
    # And on the FIFO intake queue, if the app has FIFO queues: a second event source of the same function, with at
    # most 10 records and no batching window, as Lambda requires of a FIFO source ("Lambda parameters for Amazon SQS
    # event source mappings"). A record it keeps (a live attempt holds its task) is a batch item failure, and the
    # rest of that record's message group in the batch is returned unprocessed, as Lambda asks of FIFO sources
    # ("Handling errors for an SQS event source in Lambda"): squall.worker.fifo.
    if service.fifo_intake is not None and service.topology.fifo_intake is not None:
        intakes.append((service.fifo_intake, service.topology.fifo_intake))
    for queue, resource in intakes:
        reconciler.add_event_source(
            event_sources.SqsEventSource(
                queue,
                batch_size=resource.batch_size,
                max_concurrency=resource.max_concurrency,
                report_batch_item_failures=True,
            )
        )
    # It sends each message on to its source queue's DLQ (a FIFO queue's is FIFO).
    reconciler.add_to_role_policy(policies.on_queues(actions=["sqs:SendMessage"], queues=dead_letters))

    # --- what both functions may do ------------------------------------------------------------------
    # squall.state.store: they claim, update and read task records (a conditional UpdateItem, and a GetItem to
    # read what a failed condition found); squall.state.groups: a chord's counter (UpdateItem) and its body's
    # reading of every member (BatchGetItem). They never put, delete or scan.
    both = [
        policies.on_task_records(
            actions=["dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:BatchGetItem"], table=service.table
        )
    ]
    if config.ENV_CONFIG_PARAMETER in service.environment:
        both.append(_read_settings(service))  # squall.app reads the settings document with GetParameter
    if (read_keys := _read_signing_keys(service)) is not None:
        both.append(read_keys)
    if (use_key := _use_key(service, KEY_USERS)) is not None:
        both.append(use_key)
    for statement in both:
        function.add_to_role_policy(statement)
        reconciler.add_to_role_policy(statement)
    # EventBridge Scheduler sends long delays and periodic tasks as its execution role: to an encrypted queue, it
    # too needs the key (through SQS).
    if (scheduler_key := _use_key(service, ("sqs",))) is not None:
        service.scheduler.role.add_to_policy(scheduler_key)


def producer_policy(service: SquallService) -> iam.ManagedPolicy:
    """What apps that send tasks and read results attach (the ``ProducerPolicyArn`` output)."""
    stack, group = Stack.of(service), service.topology.schedule_group
    read_keys = _read_signing_keys(service)
    use_key = _use_key(service, KEY_USERS)
    return iam.ManagedPolicy(
        service,
        "ProducerPolicy",
        description=f"Send Squall tasks of app {service.deployment_name} and read their results",
        statements=[
            policies.on_queues(sid="SendTasks", actions=["sqs:SendMessage"], queues=service.queues.values()),
            # GetItem: a task's result; BatchGetItem: a group's (GroupResult).
            policies.on_task_records(
                sid="ReadResults", actions=["dynamodb:GetItem", "dynamodb:BatchGetItem"], table=service.table
            ),
            # A task delayed past SQS's 900 s is recorded PENDING first (TaskStore.hold): an UpdateItem naming
            # only the attributes that write names, so no producer can set a result, an error or a claim.
            # Revoking writes more (a finish time, the listing index) and is the operator policy's.
            policies.hold_task_records(sid="HoldDelayedTasks", table=service.table),
            _read_settings(service),
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
            _pass_scheduler_role(service),
            # Large arguments go to the payload bucket, large results are read from it (squall.offload).
            *service.payloads.statements("Payloads", read=(RESULTS_PREFIX,), write=ARGUMENTS_PREFIXES),
            # Producers sign what they send with the keyring the worker checks against.
            *([read_keys] if read_keys is not None else []),
            *([use_key] if use_key is not None else []),
        ],
    )


def grant_api(service: SquallService, api: TaskApi) -> None:
    """The REST API function's permissions: a producer's (it sends tasks, workflows and schedules and reads
    results), revoking (``DELETE /v1/tasks/{id}``: an UpdateItem of the record), and reading its token secret."""
    role = api.function.role
    role.add_managed_policy(service.producer_policy)
    role.add_to_policy(
        policies.on_task_records(sid="RevokeTasks", actions=["dynamodb:UpdateItem"], table=service.table)
    )
    if api.token_secret is not None:
        role.add_to_policy(policies.read_secret(sid="ReadApiTokens", arn=api.token_secret.secret_arn))


def operator_policy(service: SquallService) -> iam.ManagedPolicy:
    """What people and tools running the squall CLI attach (the ``OperatorPolicyArn`` output); docs/deploy.md.

    scheduler:ListSchedules has no resource-level permissions (granted apart, docs/deploy.md); nor has
    cloudwatch:GetMetricData, granted on Resource ``*`` as AWS requires (read-only, for the dashboard's charts); the
    rest is this app's only. No sqs:StartMessageMoveTask: SQS's own redrive brings back DEAD tasks the worker then
    acknowledges unrun; ``squall dlq redrive`` resets each record first.
    """
    stack, group = Stack.of(service), service.topology.schedule_group
    sources, dead_letters = list(service.queues.values()), list(service.dead_letter_queues.values())
    read_keys = _read_signing_keys(service)
    use_key = _use_key(service, KEY_USERS)
    return iam.ManagedPolicy(
        service,
        "OperatorPolicy",
        description=f"Operate Squall app {service.deployment_name}: list tasks, inspect and redrive dead letters",
        statements=[
            # Query: the listing index (squall tasks, stats); UpdateItem: redrive and revoke.
            policies.on_task_records(
                sid="ListAndResetTasks",
                actions=["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem", "dynamodb:Query"],
                table=service.table,
                index_name=service.topology.table.index_name,
            ),
            # squall limits: overrides and pauses are UpdateItems (above) of the limiter's items; `limits show`
            # finds a task's keys with a scan (an operator's read: the worker never scans).
            policies.on_task_records(sid="ShowLimitKeys", actions=["dynamodb:Scan"], table=service.table),
            policies.on_queues(
                sid="InspectQueues", actions=["sqs:GetQueueAttributes"], queues=[*sources, *dead_letters]
            ),
            policies.on_queues(
                sid="RedriveDeadLetters",
                actions=["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:PurgeQueue"],
                queues=dead_letters,
            ),
            policies.on_queues(sid="SendRedrivenTasks", actions=["sqs:SendMessage"], queues=sources),
            _read_settings(service),
            # The dashboard's outcome charts read the worker's own metrics (squall.ui.metrics).
            policies.read_metric_data(sid="ReadWorkerMetrics"),
            # Get/Delete: revoking a long-delayed task (reading its body first); Update: pausing schedules;
            # Create (and PassRole): a revoked chord member's body, sent by the revoke, may have a long delay.
            policies.on_schedules(
                sid="ManageSchedules",
                actions=[
                    "scheduler:CreateSchedule",
                    "scheduler:GetSchedule",
                    "scheduler:DeleteSchedule",
                    "scheduler:UpdateSchedule",
                ],
                stack=stack,
                group=group,
            ),
            _pass_scheduler_role(service),
            # squall dlq list reads offloaded arguments, redrive writes them again (restarting their expiry).
            *service.payloads.statements("Payloads", read=PAYLOADS, write=ARGUMENTS_PREFIXES),
            # A revoke reads a signed schedule body and signs the chord body it may send (squall.ops.revoking).
            *([read_keys] if read_keys is not None else []),
            *([use_key] if use_key is not None else []),
        ],
    )


def _read_settings(service: SquallService) -> iam.PolicyStatement:
    return policies.read_parameter(sid="ReadSettings", arn=service.parameter.parameter_arn)


def _read_signing_keys(service: SquallService) -> iam.PolicyStatement | None:
    return policies.read_signing_keys(
        sid="ReadSigningKeys", stack=Stack.of(service), reference=service.options.signing_parameter
    )


def _pass_scheduler_role(service: SquallService) -> iam.PolicyStatement:
    return policies.pass_role(
        sid="PassSchedulerRole", role=service.scheduler.role, to_service="scheduler.amazonaws.com"
    )


def _use_key(service: SquallService, services: tuple[str, ...]) -> iam.PolicyStatement | None:
    if service.encryption_key is None:
        return None
    return policies.use_key_through(
        sid="UseDeploymentKey", key=service.encryption_key, stack=Stack.of(service), services=services
    )
