"""The synthesized template deploys into moto's CloudFormation, and tasks run on what it created.

moto creates the queues, table, IAM, functions, event source mappings and SSM parameter; it skips
AWS::SQS::QueuePolicy, AWS::CloudWatch::Alarm and AWS::Scheduler::ScheduleGroup/Schedule (warning
"No Moto CloudFormation support"), which the template tests cover instead. Two stand-ins are needed:
the worker's code asset is uploaded to the bootstrap bucket ``cdk deploy`` would publish it to, and the
Powertools layer's public SSM parameter is pointed at a parameter moto lets us create (moto refuses
PutParameter under the reserved ``/aws/`` prefix). moto's own event source mappings invoke functions
in Docker, so they are disabled and the test stands in for Lambda's poller.
"""

from __future__ import annotations

import copy
import io
import json
import re
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from cdk_support import Synth
from examples.shop import tasks
from moto import mock_aws

from squall import config
from squall.cdk.names import estimated_document_bytes
from squall.handler import make_handler
from squall.local.esm import FakeLambdaContext, to_event_record

REGION = "us-east-1"
STACK = "squall-shop"
LAYER_STAND_IN = "/test/powertools-layer"
#: The template's resource types moto's CloudFormation skips (the template tests cover them).
SKIPPED_BY_MOTO = {
    "AWS::SQS::QueuePolicy",
    "AWS::S3::BucketPolicy",  # the payload bucket's TLS-only policy: tests/infra/test_cdk_payload_bucket.py
    "AWS::CloudWatch::Alarm",
    "AWS::Scheduler::ScheduleGroup",
    "AWS::Scheduler::Schedule",
}

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS.*not supported by moto:UserWarning")


@dataclass
class Deployed:
    """The stack as moto created it."""

    session: boto3.Session
    outputs: dict[str, str]
    resource_types: set[str]
    skipped_types: set[str]


def _upload_assets(session: boto3.Session, synth: Synth, account: str) -> None:
    """Zip every file asset and put it where the bootstrap stack's bucket would hold it."""
    s3 = session.client("s3")
    manifest = json.loads((synth.outdir / f"{STACK}.assets.json").read_text())
    for asset in manifest["files"].values():
        if asset["source"].get("packaging") != "zip":
            continue
        for destination in asset["destinations"].values():
            bucket = destination["bucketName"].replace("${AWS::AccountId}", account).replace("${AWS::Region}", REGION)
            if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
                s3.create_bucket(Bucket=bucket)
            buffer = io.BytesIO()
            source = synth.outdir / asset["source"]["path"]
            with zipfile.ZipFile(buffer, "w") as archive:
                for path in sorted(source.rglob("*")):
                    if path.is_file():
                        archive.write(path, path.relative_to(source))
            s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=buffer.getvalue())


def _deployable(synth: Synth) -> dict[str, Any]:
    template = copy.deepcopy(synth.json)
    for parameter in template["Parameters"].values():
        if parameter["Default"].startswith("/aws/service/powertools/"):
            parameter["Default"] = LAYER_STAND_IN
    return template


@pytest.fixture(scope="module")
def deployed(shop: Synth) -> Iterator[Deployed]:
    with pytest.MonkeyPatch.context() as env, mock_aws():
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }.items():
            env.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", config.ENV_CONFIG, config.ENV_CONFIG_PARAMETER):
            env.delenv(key, raising=False)
        session = boto3.Session(region_name=REGION)
        account = session.client("sts").get_caller_identity()["Account"]
        _upload_assets(session, shop, account)
        ssm = session.client("ssm")
        ssm.put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String")
        ssm.put_parameter(
            Name=LAYER_STAND_IN,
            Value=f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:1",
            Type="String",
        )
        cloudformation = session.client("cloudformation")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cloudformation.create_stack(
                StackName=STACK, TemplateBody=json.dumps(_deployable(shop)), Capabilities=["CAPABILITY_IAM"]
            )
        skipped = {m.group(1) for w in caught if (m := re.search(r"parse (AWS::\S+) but", str(w.message)))}
        (stack,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
        resources = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        yield Deployed(
            session,
            {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]},
            {r["ResourceType"] for r in resources},
            skipped,
        )


def test_moto_creates_the_stacks_queues_table_functions_and_settings(deployed: Deployed, shop: Synth) -> None:
    assert {
        "AWS::SQS::Queue",
        "AWS::DynamoDB::Table",
        "AWS::Lambda::Function",
        "AWS::Lambda::EventSourceMapping",
        "AWS::IAM::Role",
        "AWS::IAM::ManagedPolicy",
        "AWS::SSM::Parameter",
        "AWS::S3::Bucket",
    } <= deployed.resource_types
    assert deployed.skipped_types <= SKIPPED_BY_MOTO
    sqs = deployed.session.client("sqs")
    for resource in shop.stack.service.topology.queues:
        assert (
            deployed.outputs[f"QueueUrl{resource.name}"] == sqs.get_queue_url(QueueName=resource.queue_name)["QueueUrl"]
        )
    assert deployed.outputs["TableName"] == shop.stack.service.topology.table.name
    assert deployed.outputs["SettingsParameter"] == config.parameter_name("shop")
    intake = shop.stack.service.topology.intake
    assert deployed.outputs["IntakeQueueUrl"] == sqs.get_queue_url(QueueName=intake.name)["QueueUrl"]
    assert deployed.outputs["ReconcilerFunctionName"] == intake.function_name


def test_the_reconciler_is_deployed_polling_the_intake_queue(deployed: Deployed, shop: Synth) -> None:
    lambda_ = deployed.session.client("lambda")
    intake = shop.stack.service.topology.intake
    function = lambda_.get_function_configuration(FunctionName=intake.function_name)
    assert function["Handler"] == "squall.functions.reconciler.handler"
    assert (function["Timeout"], function["MemorySize"]) == (intake.timeout, intake.memory)
    worker = lambda_.get_function_configuration(FunctionName=deployed.outputs["WorkerFunctionName"])
    assert function["Environment"]["Variables"] == worker["Environment"]["Variables"]
    (mapping,) = lambda_.list_event_source_mappings(FunctionName=intake.function_name)["EventSourceMappings"]
    sqs = deployed.session.client("sqs")
    intake_url = deployed.outputs["IntakeQueueUrl"]
    intake_arn = sqs.get_queue_attributes(QueueUrl=intake_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert mapping["EventSourceArn"] == intake_arn
    assert mapping["BatchSize"] == intake.batch_size


def test_published_settings_resolve_to_the_created_resources(deployed: Deployed, shop: Synth) -> None:
    ssm = deployed.session.client("ssm")
    document = json.loads(ssm.get_parameter(Name=deployed.outputs["SettingsParameter"])["Parameter"]["Value"])
    settings = config.Settings.from_document(document, source="moto")
    sqs = deployed.session.client("sqs")
    for resource in shop.stack.service.topology.queues:
        address = settings.queue(resource.name)
        attributes = sqs.get_queue_attributes(QueueUrl=address.url, AttributeNames=["All"])["Attributes"]
        assert attributes["QueueArn"] == address.arn
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == settings.intake_arn
        assert int(redrive["maxReceiveCount"]) == address.max_receive_count == 10
        assert address.physical_name == resource.queue_name
        dlq = sqs.get_queue_attributes(QueueUrl=address.dlq_url, AttributeNames=["QueueArn"])["Attributes"]
        assert dlq["QueueArn"] == address.dlq_arn
    assert settings.table == shop.stack.service.topology.table.name
    assert settings.region == REGION
    intake = sqs.get_queue_attributes(QueueUrl=settings.intake_url, AttributeNames=["QueueArn"])["Attributes"]
    assert intake["QueueArn"] == settings.intake_arn
    assert settings.intake_url == deployed.outputs["IntakeQueueUrl"]
    function = deployed.session.client("lambda").get_function_configuration(
        FunctionName=deployed.outputs["WorkerFunctionName"]
    )
    assert json.loads(function["Environment"]["Variables"][config.ENV_CONFIG]) == document
    assert len(json.dumps(document, separators=(",", ":"))) <= estimated_document_bytes(shop.stack.service.topology)


def test_a_task_sent_by_a_producer_runs_on_the_deployed_resources(deployed: Deployed) -> None:
    lambda_ = deployed.session.client("lambda")
    for function in (deployed.outputs["WorkerFunctionName"], deployed.outputs["ReconcilerFunctionName"]):
        for mapping in lambda_.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]:
            lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    app = tasks.app
    previous = app._settings, app._session
    # Given a producer that knows only the app's name: settings come from the published SSM parameter.
    app.configure(None, deployed.session)
    try:
        result = tasks.charge.delay("o-1", 250)
        address = app.settings.queue("default")
        # When the worker handler receives the message as Lambda's poller would deliver it,
        messages = deployed.session.client("sqs").receive_message(
            QueueUrl=address.url, AttributeNames=["All"], MessageAttributeNames=["All"], MaxNumberOfMessages=10
        )["Messages"]
        event = {"Records": [to_event_record(m, address.arn, REGION) for m in messages]}
        response = make_handler(app)(event, FakeLambdaContext("worker", 60.0, 256, REGION))
        # then the task ran, and its result is in the deployed table.
        assert response == {"batchItemFailures": []}
        assert result.get(timeout=0) == {"order_id": "o-1", "charged": 250, "currency": "EUR"}
        item = deployed.session.client("dynamodb").scan(TableName=deployed.outputs["TableName"])["Items"]
        assert len(item) == 1
    finally:
        app.configure(*previous)
