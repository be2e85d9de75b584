"""cdk-nag: the rule packs every Squall deployment is checked against, and every acknowledged finding.

This is the one reviewed place for acknowledgements; each names the exact finding, sits on the
construct it concerns (it covers that construct's children only), and says why it is right.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import Acknowledgment, App, CfnElement, Stack, Token, Validations
from cdk_nag import AwsSolutionsChecks, NagPack, ServerlessChecks
from constructs import IConstruct

from squall.cdk.constructs.api import TaskApi
from squall.cdk.stack import SquallService
from squall.cdk.workers import every_worker

DEAD_LETTER_IS_TERMINAL = (
    "A dead-letter queue is terminal: redriving it into yet another queue would only move failed messages "
    "again. They stay for 14 days (the SQS maximum) and the queue's depth alarm reports them."
)
SENT_DEAD_LETTERS = (
    "This queue is a dead-letter queue: the worker and the reconciler send each dead-lettered task of its "
    "source queue here with a reason (SendMessage). cdk-nag recognises only SQS redrive policies as DLQ use."
)


def packs() -> list[NagPack]:
    """The packs Squall is held to: AWS Solutions and Serverless."""
    return [AwsSolutionsChecks(), ServerlessChecks()]


def add_packs(app: App) -> None:
    """Run the packs as CDK validation plugins when ``app`` synthesizes (a finding fails the synth)."""
    Validations.of(app).add_plugins(*packs())


def _ack(construct: IConstruct, rule: str, reason: str) -> None:
    # "<pack>::<rule>" is the id CDK's validation report asks for (the pack name is the rule's prefix).
    pack = rule.split("-", 1)[0]
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{pack}::{rule}", reason=reason))


def _schedules_finding(stack: Stack, group: str) -> str:
    """The IAM5 finding on ``schedule/<group>/*`` as cdk-nag names it: the stack's account and region are
    literals in an environment-bound stack, placeholders of the pseudo parameters otherwise."""
    region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
    account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
    return f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:{region}:{account}:schedule/{group}/*]"


def acknowledge(service: SquallService) -> None:
    """Acknowledge the findings Squall accepts by design, each on the construct it concerns."""
    workers = every_worker(service)
    for function in (*workers, service.reconciler):
        _ack(
            function.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments and PutTelemetryRecords (added by Lambda active tracing) support no "
            "resource-level permissions; AWS requires Resource '*' for them.",
        )
        _ack(
            function.function,
            "Serverless-LambdaDLQ",
            "Only SQS event source mappings invoke this function, synchronously; a Lambda asynchronous-"
            "invocation DLQ would never receive anything. Failed messages follow the queue's redrive policy.",
        )
        _ack(
            function.function,
            "Serverless-LambdaEventSourceMappingDestination",
            "On-failure destinations exist for stream and Kafka event sources, not SQS: for an SQS event "
            "source the queue's redrive policy (to the intake queue, for the worker) is the failure destination.",
        )
        if function.function.is_bound_to_vpc:
            _ack(
                function.role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaVPCAccessExecutionRole]",
                "Placed in a VPC on request, the function must create and delete its network interfaces; CDK "
                "attaches AWS's managed policy for exactly that (ec2 ENI actions, which support no resource scoping).",
            )
    if service.api is not None:
        _acknowledge_api(service.api)
    stack = Stack.of(service)
    group = service.topology.schedule_group
    schedules = _schedules_finding(stack, group)
    for worker in workers:
        _ack(
            worker.role,
            schedules,
            "The worker creates a one-time schedule for each retry due beyond SQS's 900 s, named at run time "
            f"after the task; the wildcard is confined to this app's schedule group {group!r}, and PassRole "
            "to the scheduler role only.",
        )
    _ack(
        service.producer_policy,
        schedules,
        "Producers create and delete one-off schedules named at run time (ETA tasks); the wildcard is "
        f"confined to this app's schedule group {group!r}, and PassRole to the scheduler role only.",
    )
    _ack(
        service.operator_policy,
        "AwsSolutions-IAM5[Resource::*]",
        "cloudwatch:GetMetricData (the dashboard's charts of the worker's metrics) supports no resource-level "
        "permissions and no namespace condition; AWS requires Resource '*' for it.",
    )
    _ack(
        service.operator_policy,
        schedules,
        "Operators inspect, pause, resume and delete schedules whose names are chosen at run time (dynamic "
        f"schedules, long delays); the wildcard is confined to this app's schedule group {group!r}.",
    )
    _ack(
        service.scheduler.dead_letter_queue,
        "AwsSolutions-SQS3",
        "This queue is a dead-letter queue: every schedule's Target.DeadLetterConfig points at it. cdk-nag "
        "recognises only SQS redrive policies as DLQ use.",
    )
    if service.monitoring.topic is not None and service.monitoring.topic_key is not None:  # the topic made here
        _ack(
            service.monitoring.topic,
            "Serverless-SNSRedrivePolicy",
            "The only subscription is the alarm email; an undeliverable notification is not worth replaying "
            "later, and the alarm's state stays visible in CloudWatch and on the app's dashboard.",
        )
    for dead_letter_queue in [*service.dead_letter_queues.values(), service.scheduler.dead_letter_queue]:
        _ack(dead_letter_queue, "Serverless-SQSRedrivePolicy", DEAD_LETTER_IS_TERMINAL)
    for dead_letter_queue in service.dead_letter_queues.values():
        _ack(dead_letter_queue, "AwsSolutions-SQS3", SENT_DEAD_LETTERS)
    for intake in (service.intake, *([] if service.fifo_intake is None else [service.fifo_intake])):
        _ack(
            intake,
            "Serverless-SQSRedrivePolicy",
            "The intake queue is itself the source queues' redrive target. A message the reconciler fails on "
            "stays here (14 days, longer than any source keeps it) and the intake's age alarm reports it within "
            "15 minutes; a further redrive would take it beyond the reconciler without recording it DEAD.",
        )
    payloads = service.payloads.bucket
    logical = stack.resolve(stack.get_logical_id(cast(CfnElement, payloads.node.default_child)))
    roles = (*(worker.role for worker in workers), service.reconciler.role)
    for principal in (*roles, service.producer_policy, service.operator_policy):
        for prefix in ("args", "args-delayed", "results"):
            _ack(
                principal,
                f"AwsSolutions-IAM5[Resource::<{logical}.Arn>/{prefix}/*]",
                f"Offloaded payloads are keyed {prefix}/<task id>/<sha256>, named at run time; the wildcard is "
                "confined to that one prefix of the app's payload bucket, and the actions to Get or Put.",
            )
    _ack(
        payloads,
        "AwsSolutions-S1",
        "The payload bucket holds transient copies of task arguments and results, written and read only by this "
        "app's roles under the TLS-only policy; request logs would repeat what the task records already hold.",
    )
    for name, bucket in service.extension_resources.buckets.items():
        logical = stack.resolve(stack.get_logical_id(cast(CfnElement, bucket.node.default_child)))  # its CfnBucket
        for worker in workers:
            _ack(
                worker.role,
                f"AwsSolutions-IAM5[Resource::<{logical}.Arn>/*]",
                f"An extension declared bucket {name!r} and the worker's access to its objects, whose keys it chooses "
                "at run time; the wildcard is confined to that one bucket's objects, and the actions to the declared "
                "grants.",
            )


def _acknowledge_api(api: TaskApi) -> None:
    """The REST API's accepted findings (squall.cdk.constructs.api)."""
    _ack(
        api.function.role,
        "AwsSolutions-IAM5[Resource::*]",
        "X-Ray's PutTraceSegments and PutTelemetryRecords (added by Lambda active tracing) support no "
        "resource-level permissions; AWS requires Resource '*' for them.",
    )
    _ack(
        api.function.function,
        "Serverless-LambdaDLQ",
        "Only API Gateway invokes this function, synchronously, and answers the caller with its outcome; a Lambda "
        "asynchronous-invocation DLQ would never receive anything.",
    )
    if api.function.function.is_bound_to_vpc:
        _ack(
            api.function.role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaVPCAccessExecutionRole]",
            "Placed in a VPC on request, the function must create and delete its network interfaces; CDK "
            "attaches AWS's managed policy for exactly that (ec2 ENI actions, which support no resource scoping).",
        )
    for route in api.http_api.node.children:
        # The public contract route, and (token mode) the proxy route whose bearer token the function checks.
        if route.node.id.startswith("GET--v1--openapi.json"):
            _ack(
                route,
                "AwsSolutions-APIG4",
                "GET /v1/openapi.json serves the API's OpenAPI document, which holds no data; the contract asks "
                "that clients and tools read it without credentials. Every other route is authenticated.",
            )
        elif api.token_secret is not None and route.node.id.startswith("ANY--"):
            _ack(
                route,
                "AwsSolutions-APIG4",
                "The function authenticates every request with a bearer token compared in constant time against "
                "the Secrets Manager secret; a Lambda authorizer would add an invocation and latency to do the same.",
            )
    if api.token_secret is not None:
        _ack(
            api.token_secret,
            "AwsSolutions-SMG4",
            "The secret holds bearer tokens that clients present: an automatic rotation would lock every client "
            "out at once. Operators rotate by hand, putting a JSON list [new, old] while clients move (docs/api.md).",
        )
