"""SquallService in a CDK app of one's own: every prop reaches the template, and stages of one app coexist.

One CDK app holds the shop twice, at stages ``dev`` and ``prod``; ``prod`` sets every prop a deployer may give
(a customer managed key, a VPC, an alarm topic, extra environment and IAM statements, JSON logs). The app runs the
cdk-nag packs, as ``squall deploy`` does, so a prop that brings a finding without its acknowledgement fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template
from cdk_support import ROOT, SHOP_OPTIONS, nag_findings

from squall import Squall, limits
from squall.cdk import SquallService, nag
from squall.errors import ConfigurationError

SHOP = "examples.shop.tasks:app"
SUBNETS = ("subnet-0aaa1111", "subnet-0bbb2222")
SECURITY_GROUP = "sg-0ccc3333"
#: (No wildcard: cdk-nag holds the deployer's own statements to the same rules.)
TASKS_BUCKET = "arn:aws:s3:::shop-invoices/latest.json"
#: Physical-name properties, by resource type: what two stages must never share.
NAME_PROPERTIES = {
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::SSM::Parameter": "Name",
    "AWS::Scheduler::ScheduleGroup": "Name",
}


@dataclass(frozen=True)
class Stages:
    dev: SquallService
    prod: SquallService
    templates: dict[str, dict[str, Any]]

    def resources(self, stage: str, type_: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.templates[stage]["Resources"].items() if r["Type"] == type_}

    def logical_id(self, stage: str, construct: Any) -> str:
        service = getattr(self, stage)
        return str(cdk.Stack.of(service).get_logical_id(construct.node.default_child))


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> Stages:
    outdir = tmp_path_factory.mktemp("cdk-stages")
    app = cdk.App(outdir=str(outdir))
    dev_stack, prod_stack = cdk.Stack(app, "shop-dev"), cdk.Stack(app, "shop-prod")
    dev = SquallService(dev_stack, "Tasks", app=SHOP, code=ROOT / "examples", stage="dev")
    key = kms.Key(prod_stack, "Key", enable_key_rotation=True, removal_policy=cdk.RemovalPolicy.DESTROY)
    vpc = ec2.Vpc.from_vpc_attributes(
        prod_stack, "Vpc", vpc_id="vpc-0ddd4444", availability_zones=["eu-west-1a", "eu-west-1b"]
    )
    prod = SquallService(
        prod_stack,
        "Tasks",
        app=SHOP,
        code=ROOT / "examples",
        stage="prod",
        encryption_key=key,
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(
            subnets=[ec2.Subnet.from_subnet_id(prod_stack, f"Subnet{i}", s) for i, s in enumerate(SUBNETS)]
        ),
        security_groups=[ec2.SecurityGroup.from_security_group_id(prod_stack, "Sg", SECURITY_GROUP)],
        alarm_topic=sns.Topic.from_topic_arn(prod_stack, "Ops", "arn:aws:sns:eu-west-1:123456789012:ops"),
        environment={"INVOICE_BUCKET": "shop-invoices"},
        policy_statements=[iam.PolicyStatement(actions=["s3:GetObject"], resources=[TASKS_BUCKET])],
        log_retention_days=90,
        log_format="JSON",
    )
    for service in (dev, prod):
        nag.acknowledge(service)
    nag.add_packs(app)
    try:
        app.synth()
    except RuntimeError as exc:
        pytest.fail(f"synth failed: {exc}\n" + "\n".join(nag_findings(outdir)), pytrace=False)
    templates = {
        name: Template.from_stack(stack).to_json() for name, stack in (("dev", dev_stack), ("prod", prod_stack))
    }
    return Stages(dev, prod, templates)


def _names(stages: Stages, stage: str) -> Iterator[str]:
    for type_, prop in NAME_PROPERTIES.items():
        for resource in stages.resources(stage, type_).values():
            value = resource["Properties"].get(prop)
            if isinstance(value, str):
                yield value


def test_two_stages_of_one_app_share_no_physical_name(stages: Stages) -> None:
    dev, prod = set(_names(stages, "dev")), set(_names(stages, "prod"))
    assert len(dev) >= 8
    assert len(prod) == len(dev)
    assert dev.isdisjoint(prod)
    assert all("-dev-" in name or name.endswith("-dev") or "/dev/" in name for name in dev), dev
    assert {"squall-shop-prod-tasks", "squall-shop-prod-default", "/squall/shop/prod/config"} <= prod
    for queue in stages.resources("prod", "AWS::SQS::Queue").values():
        assert len(queue["Properties"]["QueueName"]) <= limits.SQS_MAX_QUEUE_NAME_CHARS


def test_the_functions_know_their_stage_and_keep_its_metrics_apart(stages: Stages) -> None:
    for stage in ("dev", "prod"):
        for function in stages.resources(stage, "AWS::Lambda::Function").values():
            variables = function["Properties"]["Environment"]["Variables"]
            assert variables["SQUALL_STAGE"] == stage
            assert variables["POWERTOOLS_SERVICE_NAME"] == f"shop-{stage}"
    (dashboard,) = stages.resources("prod", "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == {"Fn::Join": ["", ["squall-shop-prod-", {"Ref": "AWS::Region"}]]}


def test_a_customer_managed_key_encrypts_every_queue_and_the_table(stages: Stages) -> None:
    key = stages.logical_id("prod", stages.prod.encryption_key)
    queues = stages.resources("prod", "AWS::SQS::Queue")
    assert len(queues) == 2 * len(stages.prod.queues) + 2  # sources, their DLQs, the intake, the scheduler's DLQ
    for queue in queues.values():
        assert queue["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
        assert "SqsManagedSseEnabled" not in queue["Properties"]
    (table,) = stages.resources("prod", "AWS::DynamoDB::Table").values()
    assert table["Properties"]["SSESpecification"] == {
        "KMSMasterKeyId": {"Fn::GetAtt": [key, "Arn"]},
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    # Without a key: SSE-SQS and DynamoDB's AWS owned key, no KMS calls.
    for queue in stages.resources("dev", "AWS::SQS::Queue").values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


def _statements(template: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    resource = template["Resources"][logical_id]
    if resource["Type"] == "AWS::IAM::ManagedPolicy":
        return list(resource["Properties"]["PolicyDocument"]["Statement"])
    return [
        statement
        for policy in template["Resources"].values()
        if policy["Type"] == "AWS::IAM::Policy" and {"Ref": logical_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_every_role_that_touches_the_queues_or_table_may_use_the_key_through_those_services_only(
    stages: Stages,
) -> None:
    prod, template = stages.prod, stages.templates["prod"]
    key = {"Fn::GetAtt": [stages.logical_id("prod", prod.encryption_key), "Arn"]}
    holders = {
        "worker": prod.worker.role,
        "reconciler": prod.reconciler.role,
        "scheduler": prod.scheduler.role,
        "producer": prod.producer_policy,
        "operator": prod.operator_policy,
    }
    for who, holder in holders.items():
        (use,) = [
            s for s in _statements(template, stages.logical_id("prod", holder)) if s.get("Sid") == "UseDeploymentKey"
        ]
        assert use["Resource"] == key, who
        assert set(use["Action"]) >= {"kms:Decrypt", "kms:GenerateDataKey"}, who
        through = use["Condition"]["StringEquals"]["kms:ViaService"]
        expected = ["sqs"] if who == "scheduler" else ["sqs", "dynamodb"]
        assert [entry["Fn::Join"][1][0].rstrip(".") for entry in through] == expected, who
    # No key, no statement.
    dev_template = stages.templates["dev"]
    worker = stages.logical_id("dev", stages.dev.worker.role)
    assert not [s for s in _statements(dev_template, worker) if s.get("Sid") == "UseDeploymentKey"]


def test_both_functions_run_in_the_given_subnets_with_the_given_security_groups(stages: Stages) -> None:
    for function in stages.resources("prod", "AWS::Lambda::Function").values():
        vpc = function["Properties"]["VpcConfig"]
        assert sorted(vpc["SubnetIds"]) == sorted(SUBNETS)
        assert vpc["SecurityGroupIds"] == [SECURITY_GROUP]
    for function in stages.resources("dev", "AWS::Lambda::Function").values():
        assert "VpcConfig" not in function["Properties"]
    # Lambda manages the interfaces as the function's role: it must be allowed to (AWS's managed policy).
    for role in (stages.prod.worker.role, stages.prod.reconciler.role):
        arns = stages.templates["prod"]["Resources"][stages.logical_id("prod", role)]["Properties"]["ManagedPolicyArns"]
        assert [arn["Fn::Join"][1][-1] for arn in arns] == [
            ":iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
        ]
    dev_role = stages.templates["dev"]["Resources"][stages.logical_id("dev", stages.dev.worker.role)]["Properties"]
    assert "ManagedPolicyArns" not in dev_role


def test_extra_environment_and_statements_reach_the_worker_only(stages: Stages) -> None:
    prod, template = stages.prod, stages.templates["prod"]
    worker = template["Resources"][stages.logical_id("prod", prod.worker.function)]["Properties"]
    reconciler = template["Resources"][stages.logical_id("prod", prod.reconciler.function)]["Properties"]
    assert worker["Environment"]["Variables"]["INVOICE_BUCKET"] == "shop-invoices"
    assert worker["LoggingConfig"]["LogFormat"] == "JSON"
    assert reconciler["LoggingConfig"]["LogFormat"] == "JSON"

    def grants_bucket(role: Any) -> bool:
        return any(s.get("Resource") == TASKS_BUCKET for s in _statements(template, stages.logical_id("prod", role)))

    assert grants_bucket(prod.worker.role)
    assert not grants_bucket(prod.reconciler.role)


def test_alarms_notify_the_topic_given_and_no_topic_is_made(stages: Stages) -> None:
    alarms = stages.resources("prod", "AWS::CloudWatch::Alarm")
    assert alarms
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == ["arn:aws:sns:eu-west-1:123456789012:ops"]
    assert stages.resources("prod", "AWS::SNS::Topic") == {}
    assert stages.prod.alarm_topic is not None


def test_public_attributes_name_every_resource(stages: Stages) -> None:
    prod = stages.prod
    assert set(prod.queues) == set(prod.dead_letter_queues) == {"default", "reports"} == set(prod.task_queues)
    assert set(prod.functions) == {"worker", "reconciler"}
    assert prod.functions["worker"] is prod.worker.function
    assert prod.table is not None
    assert prod.dashboard is not None
    assert prod.parameter is not None


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"environment": {"SQUALL_APP": "x:y"}}, "environment sets SQUALL_APP, which Squall sets or Lambda reserves"),
        ({"environment": {"AWS_REGION": "eu-west-1"}}, "environment sets AWS_REGION"),
        ({"log_format": "xml"}, "log_format must be one of JSON, Text"),
        ({"stage": "Prod"}, "stage 'Prod' cannot name AWS resources"),
    ],
)
def test_bad_props_are_refused_with_what_to_change(tmp_path: Path, props: dict[str, Any], message: str) -> None:
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)), "s")
    with pytest.raises(ConfigurationError, match=message):
        SquallService(stack, "Tasks", app=SHOP, code=ROOT / "examples", **props)


def test_an_app_object_needs_options_naming_where_the_worker_imports_it(tmp_path: Path) -> None:
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)), "s")
    with pytest.raises(ConfigurationError, match=r"needs options=DeployOptions\(app_spec='module:attribute'\)"):
        SquallService(stack, "Tasks", app=Squall("loose"))


def test_a_stage_the_app_names_itself_must_agree_with_the_deployments(tmp_path: Path) -> None:
    from dataclasses import replace

    from examples.shop import tasks

    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)), "s")
    staged = Squall("shop", stage="qa")
    tasks_app = tasks.app
    try:
        tasks.app = staged  # the spec now names an app that declares stage qa
        with pytest.raises(ConfigurationError, match="stage 'prod' is deployed, but app 'shop' names stage 'qa'"):
            SquallService(stack, "Tasks", app=staged, options=replace(SHOP_OPTIONS, stage="prod"))
    finally:
        tasks.app = tasks_app
