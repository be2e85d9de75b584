"""The worker's metrics carry the deployment's name as their service dimension, as the stack's alarms, its
dashboard and the web dashboard read them: ``<app>-<stage>`` for a staged deployment, so two stages stay apart."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from squall import Squall
from squall.config import QueueAddress, Settings
from squall.handler import make_handler
from squall.local.esm import FakeLambdaContext
from squall.sending import producer

ARN = "arn:aws:sqs:us-east-1:123456789012:squall-shop-prod-default"


class Stub:
    """A session whose DynamoDB answers every write (attempt 1) and whose SQS accepts everything."""

    def client(self, service: str, **kwargs: Any) -> Any:
        return self

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        return {"Attributes": {"attempt": {"N": "1"}, "max_retries": {"N": "3"}}}


@pytest.mark.parametrize(("stage", "service"), [("prod", "shop-prod"), (None, "shop")])
def test_the_service_dimension_is_the_deployment_name(
    monkeypatch: pytest.MonkeyPatch, stage: str | None, service: str
) -> None:
    # Given a worker of app "shop" (staged or not), metrics on, and a deployment's service name set otherwise
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "something-else")
    app = Squall("shop", stage=stage)
    task = app.task(name="shop.noop")(lambda: None)
    address = QueueAddress(f"https://sqs/{ARN}", ARN, "https://sqs/dlq", ARN + "-dlq", 10)
    app.configure(Settings(app="shop", stage=stage, region="us-east-1", table="t", queues={"default": address}), Stub())  # type: ignore[arg-type]
    body = producer.prepare(task.s(), task_id=None, queue=None, countdown=None, eta=None).body
    event = {
        "Records": [
            {
                "messageId": "m",
                "receiptHandle": "r",
                "body": body,
                "eventSourceARN": ARN,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
            }
        ]
    }

    # When it handles a batch
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        make_handler(app)(event, FakeLambdaContext("worker", 60, 128, "us-east-1"))

    # Then its EMF line names the deployment as the service
    [line] = [json.loads(text) for text in printed.getvalue().splitlines() if "_aws" in text]
    assert line["service"] == service
    assert line["TaskSucceeded"] == [1.0]
