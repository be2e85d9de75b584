"""The local runtime provisions what the stack deploys: same queue attributes, redrive, intake and table keys.

Both read squall.deploy.topology.describe; this proves neither side drifts from it (or from the other).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdk_support import Synth, logical_id
from examples.shop.tasks import app as shop_app

from squall import local
from squall.deploy.topology import describe


def _queue(synth: Synth, name: str) -> dict[str, Any]:
    return next(
        q["Properties"] for q in synth.resources("AWS::SQS::Queue").values() if q["Properties"]["QueueName"] == name
    )


def _queue_name_of(synth: Synth, reference: Any) -> str:
    return str(synth.json["Resources"][logical_id(reference)]["Properties"]["QueueName"])


def test_template_queues_carry_the_attributes_the_local_runtime_creates(shop: Synth) -> None:
    topology = describe(shop_app)
    for resource in topology.queues:
        expected = resource.queue_attributes(intake_arn="<intake>")
        queue = _queue(shop, resource.queue_name)
        assert str(queue["VisibilityTimeout"]) == expected["VisibilityTimeout"]
        assert str(queue["MessageRetentionPeriod"]) == expected["MessageRetentionPeriod"]
        assert str(queue["MaximumMessageSize"]) == expected["MaximumMessageSize"]
        assert f'"maxReceiveCount":{queue["RedrivePolicy"]["maxReceiveCount"]}' in expected["RedrivePolicy"]
        assert _queue_name_of(shop, queue["RedrivePolicy"]["deadLetterTargetArn"]) == topology.intake.name
        dlq = _queue(shop, resource.dlq_name)
        assert {k: str(dlq[k]) for k in resource.dlq_attributes()} == resource.dlq_attributes()
    intake = _queue(shop, topology.intake.name)
    expected_intake = topology.intake.queue_attributes()
    assert {k: str(intake[k]) for k in expected_intake} == expected_intake


def test_template_table_has_the_local_runtimes_keys(shop: Synth) -> None:
    table = describe(shop_app).table
    (props,) = (t["Properties"] for t in shop.resources("AWS::DynamoDB::Table").values())
    assert props["TableName"] == table.name
    assert props["KeySchema"] == [{"AttributeName": table.partition_key, "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"]["AttributeName"] == table.ttl_attribute
    (index,) = props["GlobalSecondaryIndexes"]
    assert (index["IndexName"], [k["AttributeName"] for k in index["KeySchema"]]) == (
        table.index_name,
        [table.index_partition_key, table.index_sort_key],
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_queues_and_table_the_local_runtime_creates_match_the_template(shop: Synth) -> None:
    with local.run(shop_app) as runtime:
        sqs = runtime.session.client("sqs")
        dynamodb = runtime.session.client("dynamodb")
        for resource in runtime.topology.queues:
            address = runtime.settings.queue(resource.name)
            created = sqs.get_queue_attributes(QueueUrl=address.url, AttributeNames=["All"])["Attributes"]
            queue = _queue(shop, resource.queue_name)
            assert int(created["VisibilityTimeout"]) == queue["VisibilityTimeout"]
            assert int(created["MessageRetentionPeriod"]) == queue["MessageRetentionPeriod"]
            assert int(created["MaximumMessageSize"]) == queue["MaximumMessageSize"]
            assert f'"maxReceiveCount":{queue["RedrivePolicy"]["maxReceiveCount"]}' in created["RedrivePolicy"].replace(
                " ", ""
            )
            assert json.loads(created["RedrivePolicy"])["deadLetterTargetArn"] == runtime.settings.intake_arn
            created_dlq = sqs.get_queue_attributes(QueueUrl=address.dlq_url, AttributeNames=["All"])["Attributes"]
            dlq = _queue(shop, resource.dlq_name)
            assert int(created_dlq["MessageRetentionPeriod"]) == dlq["MessageRetentionPeriod"]
            assert address.physical_name == resource.queue_name
        created_intake = sqs.get_queue_attributes(QueueUrl=runtime.settings.intake_url, AttributeNames=["All"])[
            "Attributes"
        ]
        intake = _queue(shop, runtime.topology.intake.name)
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "MaximumMessageSize"):
            assert int(created_intake[key]) == intake[key], key
        assert created_intake["QueueArn"] == runtime.settings.intake_arn
        description = dynamodb.describe_table(TableName=runtime.settings.table)["Table"]
        (props,) = (t["Properties"] for t in shop.resources("AWS::DynamoDB::Table").values())
        assert description["KeySchema"] == props["KeySchema"]
        by_name = {a["AttributeName"]: a for a in props["AttributeDefinitions"]}
        assert sorted(description["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
            by_name[name] for name in sorted(by_name)
        ]
        (created_index,) = description["GlobalSecondaryIndexes"]
        (index,) = props["GlobalSecondaryIndexes"]
        assert created_index["IndexName"] == index["IndexName"]
        assert created_index["KeySchema"] == index["KeySchema"]
        assert created_index["Projection"] == index["Projection"]
        ttl = dynamodb.describe_time_to_live(TableName=runtime.settings.table)["TimeToLiveDescription"]
        assert ttl["AttributeName"] == props["TimeToLiveSpecification"]["AttributeName"]
