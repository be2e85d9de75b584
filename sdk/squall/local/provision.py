"""Create an app's resources on moto from the shared description, exactly as the stack would."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from squall.config import QueueAddress, Settings

if TYPE_CHECKING:
    import boto3

    from squall.topology import Topology


def provision(topology: Topology, session: boto3.Session, region: str, endpoint_url: str | None) -> Settings:
    """Create every queue, DLQ and the table of ``topology``; return Settings that point at them."""
    sqs = session.client("sqs", region_name=region, endpoint_url=endpoint_url)
    queues = {}
    for resource in topology.queues:
        dlq_attributes: Any = resource.dlq_attributes()
        dlq_url = sqs.create_queue(QueueName=resource.dlq_name, Attributes=dlq_attributes)["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes: Any = resource.queue_attributes(dlq_arn)
        url = sqs.create_queue(QueueName=resource.queue_name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queues[resource.name] = QueueAddress(url, arn, dlq_url, dlq_arn, resource.max_receive_count)
    table = topology.table
    dynamodb = session.client("dynamodb", region_name=region, endpoint_url=endpoint_url)
    dynamodb.create_table(
        TableName=table.name,
        KeySchema=[{"AttributeName": table.partition_key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": table.partition_key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=table.name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
    )
    return Settings(
        app=topology.app,
        region=region,
        table=table.name,
        queues=queues,
        schedule_group=topology.schedule_group,
        endpoint_url=endpoint_url,
    )
