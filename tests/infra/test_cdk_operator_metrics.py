"""The operator policy lets the dashboard read the worker's CloudWatch metrics, and only the operator policy does;
the dashboard reads the metric and dimension the stack's own dashboard shows."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from cdk_support import Synth

from squall import config
from squall.cdk.constructs import monitoring
from squall.ui import metrics
from squall.worker.metrics import METRICS_NAMESPACE

READ = "cloudwatch:GetMetricData"


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = document["Statement"]
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_the_operator_policy_reads_metric_data_on_every_resource_without_a_condition(synth: Synth) -> None:
    # Given
    logical = synth.logical_id_of(synth.stack.service.operator_policy)
    document = synth.json["Resources"][logical]["Properties"]["PolicyDocument"]

    # When
    reading = [s for s in _statements(document) if READ in _actions(s)]

    # Then: one statement, that action alone, on "*" (GetMetricData has no resource-level permission)
    assert reading == [{"Sid": "ReadWorkerMetrics", "Effect": "Allow", "Action": READ, "Resource": "*"}]


def test_no_other_policy_or_role_reads_metric_data(synth: Synth) -> None:
    # Given
    operator = synth.logical_id_of(synth.stack.service.operator_policy)

    # When
    holders = {
        logical
        for logical, resource in synth.json["Resources"].items()
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        for statement in _statements(resource["Properties"]["PolicyDocument"])
        if any(action.startswith("cloudwatch:") for action in _actions(statement))
    }

    # Then
    assert holders == {operator}


def test_the_wildcard_is_acknowledged_on_the_operator_policy_with_its_reason(shop: Synth) -> None:
    # Given
    policy = shop.stack.service.operator_policy
    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY

    # When
    acknowledged = {
        rule: reason
        for construct in policy.node.find_all()
        for entry in construct.node.metadata
        if entry.type == key
        for rule, reason in dict(entry.data).items()
    }

    # Then
    reason = acknowledged["AwsSolutions::AwsSolutions-IAM5[Resource::*]"]
    assert "GetMetricData" in reason
    assert "Resource '*'" in reason


def test_the_dashboard_reads_the_metrics_and_dimension_the_stacks_dashboard_shows(shop: Synth) -> None:
    # Given
    service = shop.stack.service
    template_dashboards = shop.resources("AWS::CloudWatch::Dashboard")

    # When
    reads = config.deployment_name(service.app.name, service.stage)

    # Then: the same service value and dimension name, and the same namespace and metric names on the stack's dashboard
    assert reads == service.monitoring.service_name
    assert metrics.SERVICE_DIMENSION == monitoring.SERVICE_DIMENSION
    (dashboard,) = template_dashboards.values()
    body = str(dashboard["Properties"]["DashboardBody"])
    for name in (*metrics.SUCCEEDED_METRICS, *metrics.FAILED_METRICS[:2]):
        assert f'"{METRICS_NAMESPACE}","{name}","{monitoring.SERVICE_DIMENSION}"' in body, name
