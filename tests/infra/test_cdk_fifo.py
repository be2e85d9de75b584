"""A FIFO queue deploys as a FIFO source queue and a FIFO DLQ (``.fifo`` names, no content-based deduplication),
its redrive policy targets the app's FIFO intake queue (SQS requires a FIFO target), and its event source has no
batching window and a batch of at most 10 (Lambda's FIFO rules). Standard queues are unchanged; cdk-nag stays
clean."""

from __future__ import annotations

from typing import Any

import pytest
from cdk_support import ROOT, Synth, logical_id, synth_app

from squall import Queue, Squall, limits
from squall.cdk.options import DeployOptions

#: A layer ARN given outright, so the synth needs no lookup.
LAYER = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:1"


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    outdir = tmp_path_factory.mktemp("cdk-fifo")
    app = Squall("fifo", queues=["default", Queue("ledger", fifo=True)])
    options = DeployOptions(app_spec="fifo_app:app", code=(ROOT / "examples",), powertools_layer_arn=LAYER)
    return synth_app(outdir, app, options, "fifo")


def _queues(synth: Synth) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each queue's (logical id, properties), by its QueueName."""
    found = synth.resources("AWS::SQS::Queue").items()
    return {q["Properties"]["QueueName"]: (k, q["Properties"]) for k, q in found}


def test_the_fifo_queue_and_its_dlq_are_fifo_without_content_based_deduplication(synth: Synth) -> None:
    queues = _queues(synth)
    source, dlq = queues["squall-fifo-ledger.fifo"][1], queues["squall-fifo-ledger-dlq.fifo"][1]

    for props in (source, dlq):
        assert props["FifoQueue"] is True
        assert props["ContentBasedDeduplication"] is False
    assert all(len(name) <= limits.SQS_MAX_QUEUE_NAME_CHARS for name in queues)


def test_the_fifo_queue_redrives_to_the_fifo_intake_queue(synth: Synth) -> None:
    queues = _queues(synth)
    intake_id = queues["squall-fifo-moved.fifo"][0]

    policy = queues["squall-fifo-ledger.fifo"][1]["RedrivePolicy"]

    assert logical_id(policy["deadLetterTargetArn"]) == intake_id
    assert policy["maxReceiveCount"] == limits.MAX_RECEIVE_COUNT


def test_standard_queues_stay_standard_and_redrive_to_the_intake_queue(synth: Synth) -> None:
    queues = _queues(synth)
    intake_id = synth.logical_id_of(synth.stack.service.intake)

    source = queues["squall-fifo-default"][1]

    assert "FifoQueue" not in source
    assert "ContentBasedDeduplication" not in source
    assert logical_id(source["RedrivePolicy"]["deadLetterTargetArn"]) == intake_id


def test_the_fifo_event_source_has_no_batching_window_and_at_most_ten_records(synth: Synth) -> None:
    queues = _queues(synth)
    mappings = {
        logical_id(esm["Properties"]["EventSourceArn"]): esm["Properties"]
        for esm in synth.resources("AWS::Lambda::EventSourceMapping").values()
    }

    mapping = mappings[queues["squall-fifo-ledger.fifo"][0]]

    assert mapping.get("MaximumBatchingWindowInSeconds", 0) == 0
    assert mapping["BatchSize"] <= limits.ESM_MAX_BATCH_SIZE_WITHOUT_WINDOW
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
