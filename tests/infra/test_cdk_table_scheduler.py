"""The task table and EventBridge Scheduler resources, exactly as the Topology describes them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cdk_support import TUNED_SCHEDULE, Synth, logical_id

from squall.state.schema import KEY_ATTRIBUTE, TTL_ATTRIBUTE


def _table(synth: Synth) -> dict[str, Any]:
    (table,) = synth.resources("AWS::DynamoDB::Table").values()
    return dict(table)


def test_table_keys_and_ttl_are_the_stores_own(synth: Synth) -> None:
    props = _table(synth)["Properties"]
    resource = synth.stack.service.topology.table
    assert (resource.partition_key, resource.ttl_attribute) == (KEY_ATTRIBUTE, TTL_ATTRIBUTE)
    assert props["TableName"] == resource.name
    assert props["KeySchema"] == [{"AttributeName": resource.partition_key, "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": resource.ttl_attribute, "Enabled": True}
    keys = (resource.partition_key, resource.index_partition_key, resource.index_sort_key)
    assert sorted(props["AttributeDefinitions"], key=lambda a: keys.index(a["AttributeName"])) == [
        {"AttributeName": name, "AttributeType": "S"} for name in keys
    ]


def test_table_has_the_stores_sparse_listing_index(synth: Synth) -> None:
    resource = synth.stack.service.topology.table
    (index,) = _table(synth)["Properties"]["GlobalSecondaryIndexes"]
    assert index["IndexName"] == resource.index_name
    assert index["KeySchema"] == [
        {"AttributeName": resource.index_partition_key, "KeyType": "HASH"},
        {"AttributeName": resource.index_sort_key, "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": list(resource.index_non_key_attributes),
    }


def test_table_is_on_demand_with_point_in_time_recovery(synth: Synth) -> None:
    props = _table(synth)["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_table_is_protected_by_default_and_unprotected_on_request(shop: Synth, tuned: Synth) -> None:
    assert _table(shop)["Properties"]["DeletionProtectionEnabled"] is True
    assert _table(shop)["DeletionPolicy"] == "RetainExceptOnCreate"
    assert _table(tuned)["Properties"]["DeletionProtectionEnabled"] is False
    assert _table(tuned)["DeletionPolicy"] == "Delete"


def test_table_deletion_protection_follows_a_destroy_removal_policy(tmp_path: Path) -> None:
    # Given only squall:removalPolicy=destroy (deletion protection left to its default)
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from squall import Squall
    from squall.cdk.options import DeployOptions
    from squall.cdk.stack import SquallStack

    options = DeployOptions.from_context({"squall:removalPolicy": "destroy", "squall:app": "gone:app"}.get)
    layer = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:1"
    stack = SquallStack(
        cdk.App(outdir=str(tmp_path)), "gone", app=Squall("gone"), options=replace(options, powertools_layer_arn=layer)
    )

    # Then the table is deleted with the stack, and nothing stops `cdk destroy` from deleting it
    (table,) = Template.from_stack(stack).find_resources("AWS::DynamoDB::Table").values()
    assert table["DeletionPolicy"] == "Delete"
    assert table["Properties"]["DeletionProtectionEnabled"] is False


def test_schedule_group_is_named_by_the_topology(synth: Synth) -> None:
    (group,) = synth.resources("AWS::Scheduler::ScheduleGroup").values()
    assert group["Properties"]["Name"] == synth.stack.service.topology.schedule_group


def test_scheduler_dead_letter_queue_is_a_standard_encrypted_queue(synth: Synth) -> None:
    topology = synth.stack.service.topology
    synth.template.has_resource_properties(
        "AWS::SQS::Queue",
        {"QueueName": topology.scheduler_dlq_name, "SqsManagedSseEnabled": True, "MessageRetentionPeriod": 1_209_600},
    )
    queue = next(
        q
        for q in synth.resources("AWS::SQS::Queue").values()
        if q["Properties"]["QueueName"] == topology.scheduler_dlq_name
    )
    assert "FifoQueue" not in queue["Properties"]


def test_every_schedule_retries_then_dead_letters(synth: Synth) -> None:
    queue_ids = {q["Properties"]["QueueName"]: k for k, q in synth.resources("AWS::SQS::Queue").items()}
    dlq_id = queue_ids[synth.stack.service.topology.scheduler_dlq_name]
    role_id = synth.stack.get_logical_id(synth.stack.service.scheduler.role.node.default_child)  # type: ignore[arg-type]
    for schedule in synth.resources("AWS::Scheduler::Schedule").values():
        target = schedule["Properties"]["Target"]
        assert set(target["RetryPolicy"]) == {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"}
        assert logical_id(target["DeadLetterConfig"]["Arn"]) == dlq_id
        assert logical_id(target["RoleArn"]) == role_id


def test_add_schedule_declares_the_described_schedule(tuned: Synth) -> None:
    (schedule,) = tuned.resources("AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    queue_ids = {q["Properties"]["QueueName"]: k for k, q in tuned.resources("AWS::SQS::Queue").items()}
    reports = tuned.stack.service.topology.queue(TUNED_SCHEDULE.queue)
    assert props["Name"] == TUNED_SCHEDULE.name
    (group_id,) = tuned.resources("AWS::Scheduler::ScheduleGroup")
    assert props["GroupName"] == tuned.stack.service.topology.schedule_group
    assert group_id in schedule["DependsOn"]
    assert props["ScheduleExpression"] == TUNED_SCHEDULE.expression
    assert props["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert props["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    assert props["State"] == "ENABLED"
    assert props["Target"]["Arn"] == {"Fn::GetAtt": [queue_ids[reports.queue_name], "Arn"]}
    assert props["Target"]["Input"] == TUNED_SCHEDULE.input
    assert props["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600}


def test_add_schedule_refuses_a_queue_the_app_does_not_declare(shop: Synth) -> None:
    from dataclasses import replace

    with pytest.raises(ValueError, match="no queue 'nightly'"):
        shop.stack.service.scheduler.add_schedule(replace(TUNED_SCHEDULE, queue="nightly"))


def test_periodic_tasks_declared_in_the_app_become_schedules(tmp_path: Path) -> None:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from squall import Squall
    from squall.cdk.options import DeployOptions
    from squall.cdk.stack import SquallStack
    from squall.deploy.topology import describe

    app = Squall("cron-demo")

    @app.periodic("rate(15 minutes)", timezone="Europe/Berlin")
    def tick() -> None:
        """Runs every quarter hour."""

    (resource,) = describe(app).schedules
    stack = SquallStack(cdk.App(outdir=str(tmp_path)), "cron-demo", app=app, options=DeployOptions(app_spec="cron:app"))
    (schedule,) = Template.from_stack(stack).find_resources("AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert (props["Name"], props["ScheduleExpression"], props["ScheduleExpressionTimezone"]) == (
        resource.name,
        resource.expression,
        "Europe/Berlin",
    )
    assert props["Target"]["Input"] == resource.input
    assert props["Target"]["RetryPolicy"] == {
        "MaximumRetryAttempts": resource.retry_attempts,
        "MaximumEventAgeInSeconds": resource.max_event_age,
    }
    assert "DeadLetterConfig" in props["Target"]
