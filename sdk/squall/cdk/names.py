"""Names and sizes AWS checks only at deploy or run time, checked at synth: resource names, the settings
document, and how much of the Region's Lambda concurrency the app's event sources may take.

:class:`squall.cdk.stack.SquallService` calls :func:`check_names` before creating anything, sizes the settings
document with :func:`estimated_document_bytes` to choose where the worker reads it from, and warns with
:func:`concurrency_warning`.
"""

from __future__ import annotations

import json

from squall import config, limits
from squall.deploy.topology import Topology
from squall.errors import ConfigurationError

#: Lambda allows 4 KB of environment in total; above this the worker reads its settings from SSM instead.
ENV_CONFIG_BUDGET_BYTES = 3_500
#: SSM parameter value limits, in bytes: Standard tier (free) and Advanced tier ($0.05 per month).
SSM_STANDARD_MAX_BYTES = 4_096
SSM_ADVANCED_MAX_BYTES = 8_192


def estimated_document_bytes(topology: Topology) -> int:
    """An upper bound of the Settings document's size once deployed: names at their longest."""
    region, account, partition = "x" * 16, "0" * 12, "aws-us-gov"

    def arn(name: str) -> str:
        return f"arn:{partition}:sqs:{region}:{account}:{name}"

    def url(name: str) -> str:
        return f"https://sqs.{region}.amazonaws.com.cn/{account}/{name}"

    settings = config.Settings(
        app=topology.app,
        region=region,
        table=topology.table.name,
        queues={
            r.name: config.QueueAddress(
                url(r.queue_name), arn(r.queue_name), url(r.dlq_name), arn(r.dlq_name), r.max_receive_count
            )
            for r in topology.queues
        },
        schedule_group=topology.schedule_group,
        # The stack's scheduler role has a generated name (IAM names are account-wide): at most IAM's 64 characters.
        scheduler_role_arn=f"arn:{partition}:iam::{account}:role/{'r' * limits.IAM_MAX_ROLE_NAME_CHARS}",
        scheduler_dlq_arn=arn(topology.scheduler_dlq_name),
        intake_url=url(topology.intake.name),
        intake_arn=arn(topology.intake.name),
        lanes=topology.lanes,
    )
    return len(json.dumps(settings.to_document(), separators=(",", ":")))


def check_document_size(topology: Topology) -> int:
    """The settings document's size bound (see :func:`estimated_document_bytes`), if SSM can hold it."""
    size = estimated_document_bytes(topology)
    if size > SSM_ADVANCED_MAX_BYTES:
        raise ConfigurationError(
            f"app {topology.app!r}: its settings (~{size} bytes for {len(topology.queues)} queues) exceed SSM's "
            f"{SSM_ADVANCED_MAX_BYTES}-byte limit; split the app or declare fewer queues"
        )
    return size


def check_names(topology: Topology) -> None:
    """Refuse, at synth, a name AWS would refuse at deploy time; the error says what to shorten."""
    limited = [(name, limits.SQS_MAX_QUEUE_NAME_CHARS, "SQS queue") for name in _queue_names(topology)]
    limited += [
        (topology.intake.function_name, limits.LAMBDA_MAX_FUNCTION_NAME_CHARS, "Lambda function"),
        *((w.function_name, limits.LAMBDA_MAX_FUNCTION_NAME_CHARS, "Lambda function") for w in topology.workers),
        (topology.schedule_group, limits.SCHEDULER_MAX_GROUP_NAME_CHARS, "schedule group"),
        (topology.table.name, limits.DYNAMODB_MAX_TABLE_NAME_CHARS, "DynamoDB table"),
        *((s.name, limits.SCHEDULER_MAX_NAME_CHARS, "schedule") for s in topology.schedules),
    ]
    for name, most, what in limited:
        if len(name) > most:
            queue = next((q for q in topology.queues if name in (q.queue_name, q.dlq_name)), None)
            periodic = next((s.periodic_name for s in topology.schedules if name == s.name), None)
            worker = next((w.queue for w in topology.workers if name == w.function_name), None)
            shorten = (
                f"the periodic task name {periodic!r}"
                if periodic
                else f"the app name {topology.app!r}"
                + (f" or the queue name {queue.queue!r}" if queue and not queue.lane else "")
                + (f", the queue name {queue.queue!r} or the lane name {queue.lane!r}" if queue and queue.lane else "")
                + (f" or the queue name {worker!r}" if worker else "")
            )
            raise ConfigurationError(
                f"{what} name {name!r} is {len(name)} characters, over AWS's {most}: shorten {shorten}"
            )
    if len(topology.table.name) < limits.DYNAMODB_MIN_TABLE_NAME_CHARS:
        raise ConfigurationError(
            f"DynamoDB table name {topology.table.name!r} is under AWS's {limits.DYNAMODB_MIN_TABLE_NAME_CHARS} "
            "characters: lengthen the app name"
        )


def _queue_names(topology: Topology) -> list[str]:
    names = [name for q in topology.queues for name in (q.queue_name, q.dlq_name)]
    return [*names, *(intake.name for intake in topology.intakes), topology.scheduler_dlq_name]


def peak_concurrency(topology: Topology) -> int:
    """The most concurrent invocations the app's event sources may run: every cap, uncapped ones at Lambda's."""
    caps = [q.max_concurrency or limits.ESM_UNCAPPED_CONCURRENCY for q in topology.queues]
    return sum(caps) + sum(intake.max_concurrency for intake in topology.intakes)


def concurrency_warning(topology: Topology) -> str | None:
    """Why the app's event sources could take the Region's whole default Lambda concurrency, if they could.

    Lambda throttles every function of the account once the Region's executions are in use, and a throttled
    SQS batch spends a receive of each of its messages (docs/deploy.md, "Concurrency").
    """
    peak = peak_concurrency(topology)
    uncapped = [q.name for q in topology.queues if q.max_concurrency is None]
    if peak < limits.LAMBDA_DEFAULT_REGIONAL_CONCURRENCY:
        return None
    reason = f"queues {uncapped} have no max_concurrency" if uncapped else "its queues' and lanes' caps add up"
    return (
        f"app {topology.app!r}: its event sources may run {peak} concurrent invocations ({reason}), as many as "
        f"the {limits.LAMBDA_DEFAULT_REGIONAL_CONCURRENCY} a Region's functions share by default: lower "
        "max_concurrency, or check the account's concurrency quota leaves room for its other functions"
    )
