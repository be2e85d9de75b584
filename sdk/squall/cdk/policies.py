"""The IAM statements of a Squall deployment: one factory per kind of statement.

Each factory takes the actions and what they reach, keyword-only, scopes them one way wherever the kind is
used (a queue's ARN, a table and only the index named, one schedule group, one parameter), and refuses an
action of another service. :class:`squall.cdk.stack.SquallService` calls them for every role and managed policy,
so what each may do still reads in that one file. Resource policies (the alarm topic's, its key's) come
from here too, with the one service principal they admit and a confused-deputy condition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from squall.state.expressions import HELD_ATTRIBUTES
from squall.tasks.resources import ExtensionBucket, ExtensionTable, Grant
from squall.wire import signing

#: What each grant an extension declares (squall.tasks.resources) allows on its table's items.
TABLE_GRANTS: Mapping[Grant, tuple[str, ...]] = {
    "read": ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"),
    "write": ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"),
}
#: ... on its bucket's objects, and on the bucket itself (ListBucket, so that a missing key reads as missing
#: rather than as access denied).
OBJECT_GRANTS: Mapping[Grant, tuple[str, ...]] = {
    "read": ("s3:GetObject",),
    "write": ("s3:PutObject", "s3:DeleteObject"),
}
BUCKET_GRANTS: Mapping[Grant, tuple[str, ...]] = {"read": ("s3:ListBucket",), "write": ()}
#: Every attribute the producer's one task-record write names (squall.state.store.TaskStore.hold records a task
#: delayed past SQS's 900 s as PENDING): named once, with that write, in squall.state.expressions.
HELD_TASK_ATTRIBUTES = HELD_ATTRIBUTES


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


def hold_task_records(
    *, table: dynamodb.ITable, attributes: Sequence[str] = HELD_TASK_ATTRIBUTES, sid: str | None = None
) -> iam.PolicyStatement:
    """``dynamodb:UpdateItem`` on the task table that names only ``attributes`` and reads nothing back.

    IAM cannot see an UpdateItem's ConditionExpression, so it cannot require the SDK's conditions; what it can
    bound is which attributes a request names (``dynamodb:Attributes``: the key, every attribute the update
    sets or removes, and every one its condition reads) and what it returns (``dynamodb:ReturnValues``).
    The ``Null`` test keeps a request that names no attributes from passing the ``ForAllValues`` test vacuously.
    """
    return _statement(
        "dynamodb",
        ["dynamodb:UpdateItem"],
        [table.table_arn],
        sid=sid,
        conditions={
            "ForAllValues:StringEquals": {"dynamodb:Attributes": list(attributes)},
            "Null": {"dynamodb:Attributes": "false"},
            "StringEqualsIfExists": {"dynamodb:ReturnValues": "NONE"},
        },
    )


def on_extension_table(*, declared: ExtensionTable, table: dynamodb.ITable) -> iam.PolicyStatement:
    """The item actions of the grants an extension declares on its table (no index: extension tables have none)."""
    actions = [action for grant in declared.grants for action in TABLE_GRANTS[grant]]
    return _statement("dynamodb", actions, [table.table_arn], sid=f"ExtensionTable{_pascal(declared.name)}")


def on_extension_bucket(*, declared: ExtensionBucket, bucket: s3.IBucket) -> list[iam.PolicyStatement]:
    """The actions of the grants an extension declares on its bucket: on its objects, and ListBucket on itself."""
    sid = f"ExtensionBucket{_pascal(declared.name)}"
    objects = [action for grant in declared.grants for action in OBJECT_GRANTS[grant]]
    statements = [_statement("s3", objects, [bucket.arn_for_objects("*")], sid=f"{sid}Objects")]
    listing = [action for grant in declared.grants for action in BUCKET_GRANTS[grant]]
    if listing:
        statements.append(_statement("s3", listing, [bucket.bucket_arn], sid=f"{sid}Listing"))
    return statements


def on_payload_objects(
    *, bucket: s3.IBucket, sid: str, read: Sequence[str] = (), write: Sequence[str] = ()
) -> list[iam.PolicyStatement]:
    """GetObject on the ``read`` prefixes' objects of the payload bucket, PutObject on the ``write`` prefixes', and
    ListBucket on those prefixes so that a missing object reads as missing (NoSuchKey), not as AccessDenied. No one
    deletes: objects expire (squall.offload.bucket)."""
    made = []
    for action, prefixes in (("s3:GetObject", read), ("s3:PutObject", write)):
        if prefixes:
            resources = [bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes]
            verb = action.removeprefix("s3:").removesuffix("Object")
            made.append(_statement("s3", [action], resources, sid=f"{sid}{verb}"))
    if read:
        condition = {"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in read]}}
        made.append(_statement("s3", ["s3:ListBucket"], [bucket.bucket_arn], sid=f"{sid}List", conditions=condition))
    return made


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


def read_signing_keys(*, stack: Stack, reference: str | None, sid: str | None = None) -> iam.PolicyStatement | None:
    """Reading the signing keyring ``reference`` names (``ssm:<name>`` or ``secretsmanager:<name>``), if any.

    SSM SecureStrings under the AWS managed key aws/ssm need no kms:Decrypt grant: that key's policy
    admits use through SSM in the account.
    """
    if not reference:
        return None
    service, name = signing.parse_reference(reference)
    if name.startswith("arn:"):
        arn = name
    elif service == "ssm":
        arn = stack.format_arn(service="ssm", resource="parameter", resource_name=name.lstrip("/"))
    else:
        # Secrets Manager appends six random characters to a secret's ARN.
        arn = stack.format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"{name}-??????",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
    return read_parameter(sid=sid, arn=arn) if service == "ssm" else read_secret(sid=sid, arn=arn)


def pass_role(*, role: iam.IRole, to_service: str, sid: str | None = None) -> iam.PolicyStatement:
    """``iam:PassRole`` of ``role``, and only to ``to_service`` (e.g. ``scheduler.amazonaws.com``)."""
    return _statement(
        "iam",
        ["iam:PassRole"],
        [role.role_arn],
        sid=sid,
        conditions={"StringEquals": {"iam:PassedToService": to_service}},
    )


def use_key_through(
    *, key: kms.IKey, stack: Stack, services: Sequence[str], sid: str | None = None
) -> iam.PolicyStatement:
    """What a role needs of the deployment's customer managed key, and only as ``services`` use it on its behalf.

    SQS encrypts each message under a data key from the queue's key and decrypts it on receive, as the caller:
    senders need kms:GenerateDataKey and kms:Decrypt, receivers kms:Decrypt (SQS Developer Guide, "Amazon SQS key
    management"); DynamoDB encrypts and decrypts table keys with kms:Encrypt/kms:Decrypt on the caller's behalf.
    ``kms:ViaService`` keeps the role from using the key directly, outside those services.
    """
    return _statement(
        "kms",
        ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
        [key.key_arn],
        sid=sid,
        conditions={
            "StringEquals": {"kms:ViaService": [f"{service}.{stack.region}.amazonaws.com" for service in services]}
        },
    )


def cloudwatch_publishes_alarms(*, topic: sns.ITopic, stack: Stack, sid: str | None = None) -> iam.PolicyStatement:
    """The alarm topic's resource policy: CloudWatch may publish to it for alarms of this account and region only.

    An SNS topic policy that only denies (CDK's TLS-only statement) replaces the default one that let the
    account publish, so the alarms' publisher, ``cloudwatch.amazonaws.com``, must be allowed by name;
    ``aws:SourceAccount`` and ``aws:SourceArn`` (the alarm) are the confused-deputy guard AWS documents for
    service principals.
    """
    alarms = stack.format_arn(
        service="cloudwatch", resource="alarm", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    return _statement(
        "sns",
        ["sns:Publish"],
        [topic.topic_arn],
        sid=sid,
        principal="cloudwatch.amazonaws.com",
        conditions={"StringEquals": {"aws:SourceAccount": stack.account}, "ArnLike": {"aws:SourceArn": alarms}},
    )


def cloudwatch_uses_topic_key(*, stack: Stack, sid: str | None = None) -> iam.PolicyStatement:
    """The alarm topic key's policy statement: CloudWatch, for this account only, may use the key to publish.

    SNS encrypts each message with a data key the publisher's principal must be allowed to make and read
    (kms:GenerateDataKey*, kms:Decrypt; SNS Developer Guide, "Enable compatibility between event sources from
    AWS services and encrypted topics"). The AWS managed key ``alias/aws/sns`` has a policy no one can change,
    so CloudWatch cannot publish to a topic under it. A key policy's Resource ``*`` is the key itself.
    """
    return _statement(
        "kms",
        ["kms:Decrypt", "kms:GenerateDataKey*"],
        ["*"],
        sid=sid,
        principal="cloudwatch.amazonaws.com",
        conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
    )


def read_metric_data(*, sid: str | None = None) -> iam.PolicyStatement:
    """``cloudwatch:GetMetricData`` (the dashboard's outcome charts), on Resource ``*``: CloudWatch's metric reads
    support no resource-level permission, and no condition narrows them to a namespace (``cloudwatch:namespace``
    applies to PutMetricData only).

    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/permissions-reference-cw.html,
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html
    """
    return _statement("cloudwatch", ["cloudwatch:GetMetricData"], ["*"], sid=sid)


def _statement(
    service: str,
    actions: Sequence[str],
    resources: Sequence[str],
    *,
    sid: str | None,
    conditions: Mapping[str, Any] | None = None,
    principal: str | None = None,
) -> iam.PolicyStatement:
    foreign = [action for action in actions if not action.startswith(f"{service}:")]
    if foreign or not actions:
        raise ValueError(f"a statement on {service} resources takes {service}: actions only, got {list(actions)}")
    return iam.PolicyStatement(
        sid=sid,
        actions=list(actions),
        resources=list(resources),
        conditions=dict(conditions) if conditions else None,
        principals=[iam.ServicePrincipal(principal)] if principal else None,
    )


def _pascal(name: str) -> str:
    """A declared resource name (lowercase, digits, '-') as part of a statement id, which takes letters and digits."""
    return "".join(part.capitalize() for part in name.split("-"))
