"""The IAM statements of a Squall deployment: one factory per kind of statement.

Each factory takes the actions and what they reach, keyword-only, scopes them one way wherever the kind is
used (a queue's ARN, a table and only the index named, one schedule group, one parameter), and refuses an
action of another service. :class:`infra.stack.SquallService` calls them for every role and managed policy,
so what each may do still reads in that one file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs


def on_queues(*, actions: Sequence[str], queues: Iterable[sqs.IQueue], sid: str | None = None) -> iam.PolicyStatement:
    """``sqs:`` actions on these queues only (``queue.grant_*`` would add actions Squall never calls)."""
    return _statement("sqs", actions, [queue.queue_arn for queue in queues], sid=sid)


def on_task_records(
    *, actions: Sequence[str], table: dynamodb.ITable, index_name: str | None = None, sid: str | None = None
) -> iam.PolicyStatement:
    """``dynamodb:`` actions on the task table, and on its index ``index_name`` if one is named.

    An explicit statement, not ``table.grant()``: that would add ``<table>/index/*``, which no item write needs.
    """
    resources = [table.table_arn]
    if index_name is not None:
        resources.append(f"{table.table_arn}/index/{index_name}")
    return _statement("dynamodb", actions, resources, sid=sid)


def on_schedules(*, actions: Sequence[str], stack: Stack, group: str, sid: str | None = None) -> iam.PolicyStatement:
    """``scheduler:`` actions on the schedules of ``group``: named at run time, the ARN pattern keeps them in it."""
    schedules = stack.format_arn(service="scheduler", resource="schedule", resource_name=f"{group}/*")
    return _statement("scheduler", actions, [schedules], sid=sid)


def read_parameter(*, arn: str, sid: str | None = None) -> iam.PolicyStatement:
    """``ssm:GetParameter`` on one parameter (``grant_read`` would add DescribeParameters and GetParameterHistory)."""
    return _statement("ssm", ["ssm:GetParameter"], [arn], sid=sid)


def read_secret(*, arn: str, sid: str | None = None) -> iam.PolicyStatement:
    """``secretsmanager:GetSecretValue`` on one secret (its ARN, or a pattern of its six-character suffix)."""
    return _statement("secretsmanager", ["secretsmanager:GetSecretValue"], [arn], sid=sid)


def pass_role(*, role: iam.IRole, to_service: str, sid: str | None = None) -> iam.PolicyStatement:
    """``iam:PassRole`` of ``role``, and only to ``to_service`` (e.g. ``scheduler.amazonaws.com``)."""
    return _statement(
        "iam",
        ["iam:PassRole"],
        [role.role_arn],
        sid=sid,
        conditions={"StringEquals": {"iam:PassedToService": to_service}},
    )


def _statement(
    service: str,
    actions: Sequence[str],
    resources: Sequence[str],
    *,
    sid: str | None,
    conditions: Mapping[str, Any] | None = None,
) -> iam.PolicyStatement:
    foreign = [action for action in actions if not action.startswith(f"{service}:")]
    if foreign or not actions:
        raise ValueError(f"a statement on {service} resources takes {service}: actions only, got {list(actions)}")
    return iam.PolicyStatement(
        sid=sid, actions=list(actions), resources=list(resources), conditions=dict(conditions) if conditions else None
    )
