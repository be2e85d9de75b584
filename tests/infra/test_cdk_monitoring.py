"""Alarms on dead letters, queue age, the intake's age, worker and reconciler errors, worker throttles; an
optional email topic; a dashboard."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdk_support import Synth, logical_id, render, synthesize

from squall.cdk.constructs.monitoring import INTAKE_AGE_ALARM_SECONDS
from squall.worker.metrics import METRICS_NAMESPACE, OUTCOME_METRICS


def _alarms_on(synth: Synth, metric: str) -> list[dict[str, Any]]:
    return [
        a["Properties"]
        for a in synth.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == metric
    ]


def _queue_name(synth: Synth, alarm: dict[str, Any]) -> str:
    return str(synth.json["Resources"][logical_id(alarm["Dimensions"][0]["Value"])]["Properties"]["QueueName"])


def _alarmed_queues(synth: Synth, metric: str) -> set[str]:
    return {_queue_name(synth, a) for a in _alarms_on(synth, metric)}


def test_every_dead_letter_queue_alarms_as_soon_as_it_holds_a_message(synth: Synth) -> None:
    topology = synth.stack.service.topology
    assert _alarmed_queues(synth, "ApproximateNumberOfMessagesVisible") == {
        *(r.dlq_name for r in topology.queues),
        topology.scheduler_dlq_name,
    }
    for alarm in _alarms_on(synth, "ApproximateNumberOfMessagesVisible"):
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
        assert alarm["Namespace"] == "AWS/SQS"
        assert alarm["Statistic"] == "Maximum"


def test_every_source_queue_alarms_when_its_oldest_message_is_too_old(shop: Synth, tuned: Synth) -> None:
    for synth, threshold in ((shop, 900), (tuned, 600)):
        topology = synth.stack.service.topology
        intake = topology.intake.name
        assert _alarmed_queues(synth, "ApproximateAgeOfOldestMessage") == {r.queue_name for r in topology.queues} | {
            intake
        }
        sources = [a for a in _alarms_on(synth, "ApproximateAgeOfOldestMessage") if _queue_name(synth, a) != intake]
        assert {a["Threshold"] for a in sources} == {threshold}


def test_intake_queue_alarms_when_a_moved_message_waits_fifteen_minutes_unreconciled(synth: Synth) -> None:
    intake = synth.stack.service.topology.intake.name
    (alarm,) = (a for a in _alarms_on(synth, "ApproximateAgeOfOldestMessage") if _queue_name(synth, a) == intake)
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["Statistic"] == "Maximum"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (
        INTAKE_AGE_ALARM_SECONDS,
        "GreaterThanOrEqualToThreshold",
    )
    assert INTAKE_AGE_ALARM_SECONDS == 15 * 60
    assert alarm["TreatMissingData"] == "notBreaching"
    assert "reconciler" in alarm["AlarmDescription"]


def test_intake_queue_has_no_depth_alarm_its_messages_reach_the_dead_letter_alarms(synth: Synth) -> None:
    assert synth.stack.service.topology.intake.name not in _alarmed_queues(synth, "ApproximateNumberOfMessagesVisible")


def test_worker_errors_and_throttles_and_reconciler_errors_alarm(synth: Synth) -> None:
    worker_id = synth.logical_id_of(synth.stack.service.worker.function)
    reconciler_id = synth.logical_id_of(synth.stack.service.reconciler.function)
    (throttles,) = _alarms_on(synth, "Throttles")
    errors = _alarms_on(synth, "Errors")
    for alarm in [throttles, *errors]:
        assert alarm["Namespace"] == "AWS/Lambda"
        assert alarm["Threshold"] == 1
    assert throttles["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": worker_id}}]
    assert sorted(logical_id(a["Dimensions"][0]["Value"]) for a in errors) == sorted([worker_id, reconciler_id])


def test_alarms_notify_nobody_unless_an_email_is_configured(shop: Synth) -> None:
    assert shop.resources("AWS::SNS::Topic") == {}
    for alarm in shop.resources("AWS::CloudWatch::Alarm").values():
        assert "AlarmActions" not in alarm["Properties"]


def test_alarm_email_goes_through_a_topic_under_a_customer_managed_key(tuned: Synth) -> None:
    ((topic_id, topic),) = tuned.resources("AWS::SNS::Topic").items()
    ((key_id, key),) = tuned.resources("AWS::KMS::Key").items()
    # Not alias/aws/sns: that key's policy admits no CloudWatch, so no notification would ever be sent.
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    (subscription,) = tuned.resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"
    for alarm in tuned.resources("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]


def test_the_topic_key_lets_cloudwatch_of_this_account_encrypt_notifications(tuned: Synth) -> None:
    (key,) = tuned.resources("AWS::KMS::Key").values()
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    (cloudwatch,) = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch["Effect"] == "Allow"
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_the_topic_policy_lets_cloudwatch_alarms_of_this_account_publish_over_tls_only(tuned: Synth) -> None:
    ((topic_id, _),) = tuned.resources("AWS::SNS::Topic").items()
    (policy,) = tuned.resources("AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == {"Ref": topic_id}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert render(allow["Condition"]["ArnLike"]["aws:SourceArn"]) == (
        "arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*"
    )
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )


#: A topic the operator brings (squall:alarmTopicArn); its policy and key are theirs to keep admitting CloudWatch.
EXISTING_TOPIC = "arn:aws:sns:eu-west-1:123456789012:ops-alarms"


@pytest.fixture(scope="module")
def own_topic(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The shop, its alarms notifying a topic of the operator's own."""
    return synthesize(tmp_path_factory.mktemp("cdk-own-topic"), {"squall:alarmTopicArn": EXISTING_TOPIC})


def test_alarms_can_notify_an_existing_topic_and_then_create_no_topic_or_key(own_topic: Synth) -> None:
    for alarm in own_topic.resources("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [EXISTING_TOPIC]
    for kind in ("AWS::SNS::Topic", "AWS::SNS::TopicPolicy", "AWS::SNS::Subscription", "AWS::KMS::Key"):
        assert own_topic.resources(kind) == {}, kind


def test_dashboard_shows_task_outcomes_from_the_workers_metrics(synth: Synth) -> None:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    # Dashboards are account-wide: the name carries the Region (and the stage, when there is one).
    assert dashboard["Properties"]["DashboardName"] == {"Fn::Join": ["", ["squall-shop-", {"Ref": "AWS::Region"}]]}
    body = json.loads(render(dashboard["Properties"]["DashboardBody"]))
    metrics = [m for w in body["widgets"] for m in w["properties"].get("metrics", [])]
    outcome_series = {m[1] for m in metrics if m[0] == METRICS_NAMESPACE}
    assert outcome_series == set(OUTCOME_METRICS.values())
    for m in metrics:
        if m[0] == METRICS_NAMESPACE:
            assert m[2:4] == ["service", "shop"]
    titles = " ".join(w["properties"].get("title", "") for w in body["widgets"])
    for name in synth.stack.service.queues:
        assert f"Queue {name}" in titles
    for needed in ("Dead-letter queue depth", "Worker duration", "errors, throttles", "Intake", "Reconciler"):
        assert needed in titles


def test_dashboard_shows_the_intake_queue_and_the_reconciler(synth: Synth) -> None:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = json.loads(render(dashboard["Properties"]["DashboardBody"]))
    metrics = [tuple(m) for w in body["widgets"] for m in w["properties"].get("metrics", [])]
    intake_name = f"<{synth.logical_id_of(synth.stack.service.intake)}.QueueName>"
    reconciler = f"<{synth.logical_id_of(synth.stack.service.reconciler.function)}>"
    assert {m[1] for m in metrics if m[0] == "AWS/SQS" and intake_name in m} == {
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
    }
    assert {m[1] for m in metrics if m[0] == "AWS/Lambda" and reconciler in m} == {"Invocations", "Errors"}
