"""Run one task through a staged bundle's worker and reconciler, on moto, and write what happened as JSON.

tests/infra/test_cdk_bundle.py runs this file in a fresh interpreter whose only paths are the bundle and the
venv's site-packages (boto3, Powertools and moto, as Lambda's runtime and layer provide the first two):

    python -S -P bundle_run.py OUT.json WORKER_HANDLER RECONCILER_HANDLER

Only the bundle's own code runs: the resources are made here with boto3 (``squall.local`` is not shipped).
The entry points are imported once ``SQUALL_CONFIG`` names those resources, as Lambda imports them once
the stack has set it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
from moto import mock_aws

from squall.app import load_app
from squall.config import QueueAddress, Settings
from squall.deploy.topology import Topology, describe

REGION = "us-east-1"
TASK = "examples.shop.tasks.charge"
MALFORMED_BODY = "not a Squall envelope"


def provision(topology: Topology) -> Settings:
    """The app's queues and table, with only the attributes one delivery needs."""
    sqs = boto3.client("sqs", region_name=REGION)

    def create(name: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    intake_url, intake_arn = create(topology.intake.name)
    queues = {}
    for resource in topology.queues:
        queue_url, queue_arn = create(resource.queue_name)
        dlq_url, dlq_arn = create(resource.dlq_name)
        queues[resource.name] = QueueAddress(queue_url, queue_arn, dlq_url, dlq_arn, resource.max_receive_count)
    key = topology.table.partition_key
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=topology.table.name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return Settings(
        app=topology.app,
        region=REGION,
        table=topology.table.name,
        queues=queues,
        intake_url=intake_url,
        intake_arn=intake_arn,
    )


def receive(url: str) -> list[Any]:
    """Every message waiting on queue ``url``, with its system and message attributes."""
    sqs = boto3.client("sqs", region_name=REGION)
    response = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    )
    return list(response.get("Messages", []))


def record(message_id: str, body: str, queue_arn: str, attributes: dict[str, str]) -> dict[str, Any]:
    """An SQS event record as Lambda delivers it (no message attributes)."""
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", **attributes},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def context(function_name: str) -> SimpleNamespace:
    """The parts of a Lambda context Powertools and Squall read."""
    return SimpleNamespace(
        function_name=function_name,
        function_version="$LATEST",
        memory_limit_in_mb=256,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:{function_name}",
        aws_request_id=f"request-{function_name}",
        log_group_name=f"/aws/lambda/{function_name}",
        log_stream_name="bundle",
        get_remaining_time_in_millis=lambda: 60_000,
    )


def entry_point(handler: str) -> Any:
    """The callable a Lambda handler string names (``module.attribute``)."""
    module, _, attribute = handler.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def main(out: Path, worker_handler: str, reconciler_handler: str) -> None:
    """Send one task, run it through the worker, then hand its copy and a malformed body to the reconciler."""
    with mock_aws():
        app = load_app(os.environ["SQUALL_APP"])
        settings = provision(describe(app))
        os.environ["SQUALL_CONFIG"] = json.dumps(settings.to_document())
        worker, reconciler = entry_point(worker_handler), entry_point(reconciler_handler)
        task_id = app.get_task(TASK).delay("o-1", 100).id
        default = settings.queue(app.default_queue)
        (sent,) = receive(default.url)
        delivered = record(sent["MessageId"], sent["Body"], default.arn, sent["Attributes"])
        worker_response = worker({"Records": [delivered]}, context("worker"))
        stored = app.store.get(task_id)
        # The same body moved again (a leftover copy of a finished task) and one that is no task at all.
        moved = {"DeadLetterQueueSourceArn": default.arn}
        reconciler_response = reconciler(
            {
                "Records": [
                    record("leftover", sent["Body"], settings.intake_arn, moved),
                    record("malformed", MALFORMED_BODY, settings.intake_arn, moved),
                ]
            },
            context("reconciler"),
        )
        dead_letters = receive(default.dlq_url)
        report = {
            "worker": worker_response,
            "state": None if stored is None else str(stored.state),
            "result": None if stored is None else stored.result_json,
            "reconciler": reconciler_response,
            "dead_letter_bodies": [message["Body"] for message in dead_letters],
            "squall_modules": {
                name: getattr(module, "__file__", None)
                for name, module in sorted(sys.modules.items())
                if name == "squall" or name.startswith("squall.")
            },
            "powertools": sys.modules["aws_lambda_powertools"].__file__,
        }
    out.write_text(json.dumps(report))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
