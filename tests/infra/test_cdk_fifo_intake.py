"""The FIFO intake queue in the template: every FIFO queue's redrive policy targets it, the reconciler drains it
through a second event source (at most 10 records, no batching window) and may send to the FIFO DLQs, an alarm
watches its age; an app without FIFO queues gets none of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cdk_support import ROOT, Synth, logical_id, render, synth_app

from squall import Queue, Squall, limits
from squall.cdk.options import DeployOptions

#: A layer ARN given outright, so the synth needs no lookup.
LAYER = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:1"


def _synth(outdir: Path, app: Squall) -> Synth:
    options = DeployOptions(app_spec=f"{app.name}_app:app", code=(ROOT / "examples",), powertools_layer_arn=LAYER)
    return synth_app(outdir, app, options, app.name)


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    app = Squall("fifoin", queues=["default", Queue("ledger", fifo=True), Queue("audit", fifo=True)])
    return _synth(tmp_path_factory.mktemp("cdk-fifo-intake"), app)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synth(tmp_path_factory.mktemp("cdk-no-fifo"), Squall("plainin", queues=["default", "other"]))


def _queues(synth: Synth) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each queue's (logical id, properties), by its QueueName."""
    return {q["Properties"]["QueueName"]: (k, q["Properties"]) for k, q in synth.resources("AWS::SQS::Queue").items()}


def _mappings(synth: Synth) -> dict[str, dict[str, Any]]:
    """Each event source mapping's properties, by the logical id of the queue it polls."""
    return {
        logical_id(esm["Properties"]["EventSourceArn"]): esm["Properties"]
        for esm in synth.resources("AWS::Lambda::EventSourceMapping").values()
    }


def test_every_fifo_queue_redrives_into_the_fifo_intake_queue(synth: Synth) -> None:
    queues = _queues(synth)
    intake_id, intake = queues["squall-fifoin-moved.fifo"]

    policies = [queues[f"squall-fifoin-{name}.fifo"][1]["RedrivePolicy"] for name in ("ledger", "audit")]

    assert intake["FifoQueue"] is True
    assert intake["ContentBasedDeduplication"] is False
    assert intake_id == synth.logical_id_of(synth.stack.service.fifo_intake)  # type: ignore[arg-type]
    assert [logical_id(p["deadLetterTargetArn"]) for p in policies] == [intake_id, intake_id]
    assert all(p["maxReceiveCount"] == limits.MAX_RECEIVE_COUNT for p in policies)
    standard = queues["squall-fifoin-default"][1]["RedrivePolicy"]
    assert logical_id(standard["deadLetterTargetArn"]) == synth.logical_id_of(synth.stack.service.intake)


def test_the_reconciler_drains_the_fifo_intake_through_a_second_event_source(synth: Synth) -> None:
    service = synth.stack.service
    reconciler_id = synth.logical_id_of(service.reconciler.function)
    mappings = _mappings(synth)

    fifo = mappings[synth.logical_id_of(service.fifo_intake)]  # type: ignore[arg-type]
    standard = mappings[synth.logical_id_of(service.intake)]

    assert logical_id(fifo["FunctionName"]) == logical_id(standard["FunctionName"]) == reconciler_id
    assert fifo["BatchSize"] <= limits.ESM_MAX_BATCH_SIZE_WITHOUT_WINDOW
    assert fifo.get("MaximumBatchingWindowInSeconds", 0) == 0
    assert fifo["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_reconciler_may_send_to_the_fifo_dead_letter_queues(synth: Synth) -> None:
    service = synth.stack.service
    role_id = synth.logical_id_of(service.reconciler.role)
    queues = _queues(synth)
    sent: set[str] = set()
    consumed: set[str] = set()
    for policy in synth.resources("AWS::IAM::Policy").values():
        if role_id not in {logical_id(r) for r in policy["Properties"]["Roles"]}:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            rendered = {str(render(r)) for r in resources}
            if "sqs:SendMessage" in actions:
                sent |= rendered
            if "sqs:ReceiveMessage" in actions:
                consumed |= rendered

    for name in ("ledger", "audit"):
        assert f"<{queues[f'squall-fifoin-{name}-dlq.fifo'][0]}.Arn>" in sent
    assert f"<{queues['squall-fifoin-moved.fifo'][0]}.Arn>" in consumed
    assert f"<{queues['squall-fifoin-ledger.fifo'][0]}.Arn>" not in sent | consumed


def test_an_alarm_watches_the_age_of_the_fifo_intake(synth: Synth) -> None:
    intake_id = synth.logical_id_of(synth.stack.service.fifo_intake)  # type: ignore[arg-type]
    watched = {
        logical_id(dimension["Value"])
        for alarm in synth.resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "ApproximateAgeOfOldestMessage"
        for dimension in alarm["Properties"].get("Dimensions", [])
        if isinstance(dimension["Value"], dict)
    }

    assert intake_id in watched


def test_an_app_without_fifo_queues_has_no_fifo_intake(plain: Synth) -> None:
    service = plain.stack.service
    queues = _queues(plain)

    mappings = [
        esm["Properties"]
        for esm in plain.resources("AWS::Lambda::EventSourceMapping").values()
        if logical_id(esm["Properties"]["FunctionName"]) == plain.logical_id_of(service.reconciler.function)
    ]

    assert service.fifo_intake is None
    assert service.topology.fifo_intake is None
    assert not [name for name in queues if name.endswith(".fifo")]
    assert len(queues) == 2 * 2 + 2  # two queues and their DLQs, the intake, the scheduler's DLQ
    assert len(mappings) == 1
    assert not [k for k in plain.resources("AWS::CloudWatch::Alarm") if "FifoIntake" in k]


def test_the_fifo_intake_is_deployed_as_the_local_runtime_creates_it(synth: Synth) -> None:
    fifo_intake = synth.stack.service.topology.fifo_intake
    assert fifo_intake is not None
    expected = fifo_intake.queue_attributes()

    deployed = synth.properties_of(synth.stack.service.fifo_intake)  # type: ignore[arg-type]

    assert str(deployed["VisibilityTimeout"]) == expected["VisibilityTimeout"]
    assert str(deployed["MessageRetentionPeriod"]) == expected["MessageRetentionPeriod"]
    assert str(deployed["MaximumMessageSize"]) == expected["MaximumMessageSize"]
    assert (deployed["FifoQueue"], deployed["ContentBasedDeduplication"]) == (True, False)
    assert expected["FifoQueue"] == "true"
