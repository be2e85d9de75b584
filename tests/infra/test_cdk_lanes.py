"""A queue with priority lanes deploys one SQS queue, DLQ, event source mapping and set of alarms per lane, each
event source capped at the lane's share; the settings document names the lanes; cdk-nag stays clean."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdk_support import ROOT, Synth, logical_id, nag_findings, render, synth_app

from squall import Queue, Squall, config
from squall.cdk.options import DeployOptions

#: A layer ARN given outright, so the synth needs no lookup.
LAYER = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:1"
SHARES = {"high": 8, "normal": 4, "low": 2}


def laned_app() -> Squall:
    app = Squall(
        "lanes",
        queues=["default", Queue("emails", lanes=tuple(SHARES), lane_concurrency=SHARES, default_lane="normal")],
    )

    @app.periodic("rate(1 hour)", name="digest")
    @app.task(queue="emails")
    def digest() -> None: ...

    app.periodic("rate(5 minutes)", name="urgent-digest", priority="high")(digest)
    return app


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    outdir = tmp_path_factory.mktemp("cdk-lanes")
    options = DeployOptions(app_spec="lanes_app:app", code=(ROOT / "examples",), powertools_layer_arn=LAYER)
    return synth_app(outdir, laned_app(), options, "lanes")


def _queue_ids(synth: Synth) -> dict[str, str]:
    return {q["Properties"]["QueueName"]: k for k, q in synth.resources("AWS::SQS::Queue").items()}


def test_each_lane_is_a_source_queue_and_a_dead_letter_queue_of_its_own(synth: Synth) -> None:
    names = set(_queue_ids(synth))
    for lane in SHARES:
        assert {f"squall-lanes-emails-{lane}", f"squall-lanes-emails-{lane}-dlq"} <= names
    assert "squall-lanes-emails" not in names  # the queue itself is its lanes
    assert len(names) == 2 * (len(SHARES) + 1) + 2  # the lanes and default, each with its DLQ; intake, scheduler DLQ


def test_each_lane_redrives_to_the_intake_queue_like_every_source_queue(synth: Synth) -> None:
    ids, queues = _queue_ids(synth), synth.resources("AWS::SQS::Queue")
    intake = synth.logical_id_of(synth.stack.service.intake)
    for lane in SHARES:
        policy = queues[ids[f"squall-lanes-emails-{lane}"]]["Properties"]["RedrivePolicy"]
        assert logical_id(policy["deadLetterTargetArn"]) == intake


def test_each_lane_has_its_own_event_source_capped_at_its_share(synth: Synth) -> None:
    ids = _queue_ids(synth)
    worker = synth.logical_id_of(synth.stack.service.worker.function)
    caps: dict[str, Any] = {}
    for esm in synth.resources("AWS::Lambda::EventSourceMapping").values():
        props = esm["Properties"]
        if logical_id(props["FunctionName"]) == worker:
            caps[logical_id(props["EventSourceArn"])] = props.get("ScalingConfig", {}).get("MaximumConcurrency")
            assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert caps == {
        ids["squall-lanes-default"]: 10,
        **{ids[f"squall-lanes-emails-{lane}"]: share for lane, share in SHARES.items()},
    }


def test_each_lane_has_its_dead_letter_and_age_alarms(synth: Synth) -> None:
    ids = _queue_ids(synth)
    watched: dict[str, set[str]] = {}
    for alarm in synth.resources("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        for dimension in props.get("Dimensions", []):
            if dimension["Name"] == "QueueName":
                name = render(dimension["Value"])
                watched.setdefault(name, set()).add(props["MetricName"])
    for lane in SHARES:
        source, dlq = ids[f"squall-lanes-emails-{lane}"], ids[f"squall-lanes-emails-{lane}-dlq"]
        assert "ApproximateAgeOfOldestMessage" in watched[f"<{source}.QueueName>"]
        assert watched[f"<{dlq}.QueueName>"]


def test_the_settings_document_names_each_lane_and_the_default(synth: Synth) -> None:
    variables = synth.properties_of(synth.stack.service.worker.function)["Environment"]["Variables"]
    settings = config.Settings.from_document(json.loads(render(variables[config.ENV_CONFIG])), source="test")
    ids = _queue_ids(synth)
    assert settings.lanes == {"emails": config.Lanes(tuple(SHARES), "normal")}
    for lane in SHARES:
        assert settings.address("emails", lane).url == f"<{ids[f'squall-lanes-emails-{lane}']}>"
    assert settings.queue("emails").url == f"<{ids['squall-lanes-emails-normal']}>"  # the default lane


def test_a_periodic_task_on_a_queue_with_lanes_is_scheduled_onto_its_default_lane(synth: Synth) -> None:
    ids = _queue_ids(synth)
    schedules = {s["Properties"]["Name"]: s for s in synth.resources("AWS::Scheduler::Schedule").values()}
    assert logical_id(schedules["p.digest"]["Properties"]["Target"]["Arn"]) == ids["squall-lanes-emails-normal"]


def test_a_periodic_schedule_with_a_priority_targets_that_lanes_queue(synth: Synth) -> None:
    ids = _queue_ids(synth)
    schedules = {s["Properties"]["Name"]: s for s in synth.resources("AWS::Scheduler::Schedule").values()}
    target = schedules["p.urgent-digest"]["Properties"]["Target"]
    assert logical_id(target["Arn"]) == ids["squall-lanes-emails-high"]
    assert json.loads(target["Input"])["options"]["lane"] == "high"


def test_the_worker_and_the_scheduler_may_send_to_every_lane(synth: Synth) -> None:
    ids = _queue_ids(synth)
    service = synth.stack.service
    for role in (service.worker.role, service.scheduler.role):
        role_id = synth.logical_id_of(role)
        targets = {
            logical_id(resource)
            for policy in synth.resources("AWS::IAM::Policy").values()
            if {"Ref": role_id} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if "sqs:SendMessage" in statement["Action"]
            for resource in (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            if isinstance(resource, dict)
        }
        assert {ids[f"squall-lanes-emails-{lane}"] for lane in SHARES} <= targets, role_id


def test_cdk_nag_finds_nothing(synth: Synth) -> None:
    assert nag_findings(synth.outdir) == []
