"""Create an app's resources on moto from the shared description, exactly as the stack would."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from squall import limits
from squall.config import QueueAddress, Settings, parameter_name
from squall.local.motoshim import ACCOUNT_ID
from squall.offload.bucket import bucket_name
from squall.scheduler.periodic import schedule_request

if TYPE_CHECKING:
    import boto3

    from squall.deploy.topology import IntakeResource, Topology


def provision(topology: Topology, session: boto3.Session, region: str, endpoint_url: str | None) -> Settings:
    """Create every queue, DLQ, the table and the scheduling resources of ``topology``; return their Settings.

    Scheduling: the schedule group, the scheduler's DLQ, and each periodic schedule (the stack's
    ``AWS::Scheduler::Schedule`` resources). The scheduler role is only an ARN: moto does not check it.
    """
    sqs = session.client("sqs", region_name=region, endpoint_url=endpoint_url)

    def create(name: str, attributes: Any) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    intake_url, intake_arn = create(topology.intake.name, topology.intake.queue_attributes())
    # The FIFO queues' redrive target, if the app has any (not in the settings: only its event source reads it).
    fifo_intake_arn = None
    if topology.fifo_intake is not None:
        _, fifo_intake_arn = create(topology.fifo_intake.name, topology.fifo_intake.queue_attributes())
    queues = {}
    for resource in topology.queues:
        dlq_url, dlq_arn = create(resource.dlq_name, resource.dlq_attributes())
        url, arn = create(resource.queue_name, resource.queue_attributes(intake_arn, fifo_intake_arn))
        queues[resource.name] = QueueAddress(url, arn, dlq_url, dlq_arn, resource.max_receive_count)
    table = topology.table
    dynamodb = session.client("dynamodb", region_name=region, endpoint_url=endpoint_url)
    dynamodb.create_table(
        TableName=table.name,
        KeySchema=[{"AttributeName": table.partition_key, "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in (table.partition_key, table.index_partition_key, table.index_sort_key)
        ],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {
                "IndexName": table.index_name,
                "KeySchema": [
                    {"AttributeName": table.index_partition_key, "KeyType": "HASH"},
                    {"AttributeName": table.index_sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(table.index_non_key_attributes)},
            }
        ],
    )
    dynamodb.update_time_to_live(
        TableName=table.name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
    )
    retention: Any = {"MessageRetentionPeriod": str(limits.DLQ_RETENTION_SECONDS)}
    _, scheduler_dlq_arn = create(topology.scheduler_dlq_name, retention)
    settings = Settings(
        app=topology.app,
        stage=topology.stage,
        region=region,
        table=table.name,
        queues=queues,
        schedule_group=topology.schedule_group,
        scheduler_role_arn=f"arn:aws:iam::{ACCOUNT_ID}:role/{topology.scheduler_role_name}",
        scheduler_dlq_arn=scheduler_dlq_arn,
        intake_url=intake_url,
        intake_arn=intake_arn,
        endpoint_url=endpoint_url,
        lanes=topology.lanes,
        payload_bucket=_create_bucket(
            session, region, endpoint_url, bucket_name(topology.app, topology.stage, ACCOUNT_ID, region)
        ),
    )
    scheduler = session.client("scheduler", region_name=region, endpoint_url=endpoint_url)
    scheduler.create_schedule_group(Name=topology.schedule_group)
    for schedule in topology.schedules:
        scheduler.create_schedule(**schedule_request(schedule, settings))
    provision_extension_resources(topology, session, region, endpoint_url)
    return settings


def intake_address(
    resource: IntakeResource, session: boto3.Session, region: str, endpoint_url: str | None
) -> QueueAddress:
    """The address of an intake queue :func:`provision` created (its event source's; an intake has no DLQ)."""
    sqs = session.client("sqs", region_name=region, endpoint_url=endpoint_url)
    url = sqs.get_queue_url(QueueName=resource.name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return QueueAddress(url, arn, "", "", 0)


def provision_extension_resources(
    topology: Topology, session: boto3.Session, region: str, endpoint_url: str | None
) -> None:
    """Create the tables and buckets the app's extensions declare, as the stack does (keys, TTL, names).

    A bucket gets the name S3 gives it in the account regional namespace, in moto's account; moto neither
    needs nor checks the namespace, and grants are not enforced here (the template tests check them).
    """
    dynamodb = session.client("dynamodb", region_name=region, endpoint_url=endpoint_url)
    for table in topology.extension_tables:
        keys = table.declared.keys
        roles: tuple[Literal["HASH", "RANGE"], ...] = ("HASH", "RANGE")
        dynamodb.create_table(
            TableName=table.table_name,
            KeySchema=[
                {"AttributeName": key.name, "KeyType": role} for key, role in zip(keys, roles[: len(keys)], strict=True)
            ],
            AttributeDefinitions=[{"AttributeName": key.name, "AttributeType": key.type} for key in keys],
            BillingMode="PAY_PER_REQUEST",
        )
        if table.declared.ttl_attribute is not None:
            dynamodb.update_time_to_live(
                TableName=table.table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.declared.ttl_attribute},
            )
    for bucket in topology.extension_buckets:
        _create_bucket(session, region, endpoint_url, bucket.bucket_name(ACCOUNT_ID, region))


def _create_bucket(session: boto3.Session, region: str, endpoint_url: str | None, name: str) -> str:
    """Create bucket ``name`` (the payload bucket, or an extension's) and return its name."""
    s3 = session.client("s3", region_name=region, endpoint_url=endpoint_url)
    if region == "us-east-1":  # S3 refuses a LocationConstraint naming us-east-1, its default
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    return name


def publish_settings(settings: Settings, session: boto3.Session) -> None:
    """Put the settings document in SSM as ``/squall/<app>/config``, as the stack does for producers."""
    ssm = session.client("ssm", region_name=settings.region, endpoint_url=settings.endpoint_url)
    ssm.put_parameter(
        Name=parameter_name(settings.app, settings.stage),
        Value=json.dumps(settings.to_document()),
        Type="String",
        Overwrite=True,
    )
