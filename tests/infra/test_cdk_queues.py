"""Every queue the stack deploys is encrypted, TLS-only and sized from the Topology; every source queue's
redrive policy targets the app's one intake queue, which the reconciler drains."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template
from cdk_support import ROOT, SHOP_CONTEXT, Synth, logical_id

from squall import Queue, Squall, limits
from squall.cdk.options import DeployOptions
from squall.cdk.stack import SquallStack
from squall.deploy.topology import describe

#: A layer ARN given outright, so the synths below need no lookup.
LAYER = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:1"


def _queues(synth: Synth) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(source queues, dead-letter queues) by logical id, as the Topology names them."""
    topology = synth.stack.service.topology
    by_name = {q["Properties"]["QueueName"]: (k, q) for k, q in synth.resources("AWS::SQS::Queue").items()}
    sources = dict(by_name[r.queue_name] for r in topology.queues)
    dead = dict(by_name[name] for name in [*(r.dlq_name for r in topology.queues), topology.scheduler_dlq_name])
    return sources, dead


def _intake(synth: Synth) -> tuple[str, dict[str, Any]]:
    return synth.logical_id_of(synth.stack.service.intake), synth.properties_of(synth.stack.service.intake)


def _mappings_by_queue(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        logical_id(esm["Properties"]["EventSourceArn"]): esm["Properties"]
        for esm in synth.resources("AWS::Lambda::EventSourceMapping").values()
    }


def test_each_declared_queue_has_a_source_queue_and_a_dead_letter_queue_and_the_app_one_intake(synth: Synth) -> None:
    names = [q["Properties"]["QueueName"] for q in synth.resources("AWS::SQS::Queue").values()]
    topology = synth.stack.service.topology
    assert sorted(names) == sorted(
        [
            *(r.queue_name for r in topology.queues),
            *(r.dlq_name for r in topology.queues),
            topology.scheduler_dlq_name,
            topology.intake.name,
        ]
    )
    assert topology.intake.name == "squall-shop-moved"


def test_every_queue_is_encrypted_at_rest(synth: Synth) -> None:
    for queue in synth.resources("AWS::SQS::Queue").values():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, props["QueueName"]


def test_every_queue_denies_requests_without_tls(synth: Synth) -> None:
    denied: set[str] = set()
    for policy in synth.resources("AWS::SQS::QueuePolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if (
                statement["Effect"] == "Deny"
                and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                and statement["Principal"] == {"AWS": "*"}
                and statement["Action"] == "sqs:*"
            ):
                denied.update(logical_id(q) for q in policy["Properties"]["Queues"])
    assert denied == set(synth.resources("AWS::SQS::Queue"))
    assert _intake(synth)[0] in denied


def test_every_source_queue_redrives_to_the_intake_queue_after_ten_receives(synth: Synth) -> None:
    sources, _ = _queues(synth)
    intake_id, _ = _intake(synth)
    assert sources
    for queue in sources.values():
        policy = queue["Properties"]["RedrivePolicy"]
        assert logical_id(policy["deadLetterTargetArn"]) == intake_id
        assert policy["maxReceiveCount"] == limits.MAX_RECEIVE_COUNT == 10


def test_only_source_queues_have_a_redrive_policy_and_none_targets_a_dead_letter_queue(synth: Synth) -> None:
    sources, dead = _queues(synth)
    redriven = {k for k, q in synth.resources("AWS::SQS::Queue").items() if "RedrivePolicy" in q["Properties"]}
    assert redriven == set(sources)
    targets = {logical_id(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]) for q in sources.values()}
    assert not targets & set(dead)


def test_intake_queue_is_encrypted_and_outlives_every_source_queue(synth: Synth) -> None:
    sources, _ = _queues(synth)
    _, props = _intake(synth)
    intake = synth.stack.service.topology.intake
    assert props["QueueName"] == intake.name
    assert props["SqsManagedSseEnabled"] is True
    # A moved message keeps its original enqueue time: the intake must keep it longer than its source did.
    assert props["MessageRetentionPeriod"] == intake.retention == limits.SQS_MAX_RETENTION_SECONDS
    for queue in sources.values():
        assert props["MessageRetentionPeriod"] > queue["Properties"]["MessageRetentionPeriod"]
        assert props["MaximumMessageSize"] >= queue["Properties"]["MaximumMessageSize"]
    assert "RedrivePolicy" not in props
    assert "FifoQueue" not in props


def test_intake_visibility_timeout_is_six_reconciler_timeouts(synth: Synth) -> None:
    _, props = _intake(synth)
    timeout = synth.properties_of(synth.stack.service.reconciler.function)["Timeout"]
    assert props["VisibilityTimeout"] == 6 * timeout == synth.stack.service.topology.intake.visibility_timeout


def test_dead_letter_queues_keep_messages_longer_than_their_sources(synth: Synth) -> None:
    sources, dead = _queues(synth)
    for queue in dead.values():
        assert queue["Properties"]["MessageRetentionPeriod"] == limits.SQS_MAX_RETENTION_SECONDS
        for source in sources.values():
            assert queue["Properties"]["MessageRetentionPeriod"] > source["Properties"]["MessageRetentionPeriod"]


def test_task_queues_accept_one_mebibyte_messages_explicitly(synth: Synth) -> None:
    topology = synth.stack.service.topology
    names = {r.queue_name for r in topology.queues} | {r.dlq_name for r in topology.queues} | {topology.intake.name}
    checked = set()
    for queue in synth.resources("AWS::SQS::Queue").values():
        if queue["Properties"]["QueueName"] in names:
            assert queue["Properties"]["MaximumMessageSize"] == limits.SQS_MAX_MESSAGE_BYTES == 1_048_576
            checked.add(queue["Properties"]["QueueName"])
    assert checked == names


def test_visibility_timeout_is_six_function_timeouts_plus_the_batching_window(synth: Synth) -> None:
    timeout = synth.properties_of(synth.stack.service.worker.function)["Timeout"]
    mappings = _mappings_by_queue(synth)
    sources, _ = _queues(synth)
    for queue_id, queue in sources.items():
        window = mappings[queue_id].get("MaximumBatchingWindowInSeconds", 0)
        assert queue["Properties"]["VisibilityTimeout"] >= 6 * timeout + window
        assert queue["Properties"]["VisibilityTimeout"] <= limits.SQS_MAX_VISIBILITY_SECONDS


def test_every_source_queue_feeds_the_worker_reporting_batch_item_failures_with_its_polling_settings(
    synth: Synth,
) -> None:
    mappings = _mappings_by_queue(synth)
    sources, _ = _queues(synth)
    topology = synth.stack.service.topology
    worker_id = synth.logical_id_of(synth.stack.service.worker.function)
    assert set(mappings) == set(sources) | {_intake(synth)[0]}
    for queue_id, queue in sources.items():
        props = mappings[queue_id]
        resource = next(r for r in topology.queues if r.queue_name == queue["Properties"]["QueueName"])
        assert props["FunctionName"] == {"Ref": worker_id}
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["BatchSize"] == resource.batch_size
        assert props.get("MaximumBatchingWindowInSeconds", 0) == resource.batching_window
        assert props.get("ScalingConfig", {}).get("MaximumConcurrency") == resource.max_concurrency


def test_intake_queue_feeds_only_the_reconciler_with_its_batch_size_and_concurrency(synth: Synth) -> None:
    intake_id, _ = _intake(synth)
    props = _mappings_by_queue(synth)[intake_id]
    intake = synth.stack.service.topology.intake
    assert props["FunctionName"] == {"Ref": synth.logical_id_of(synth.stack.service.reconciler.function)}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == intake.batch_size == limits.RECONCILER_BATCH_SIZE
    assert props["ScalingConfig"] == {"MaximumConcurrency": intake.max_concurrency}
    assert intake.max_concurrency >= limits.ESM_MIN_MAX_CONCURRENCY
    assert "MaximumBatchingWindowInSeconds" not in props


def test_queue_overrides_from_context_reach_the_event_source_and_the_visibility_timeout(tuned: Synth) -> None:
    resource = tuned.stack.service.topology.queue("reports")
    assert (resource.batch_size, resource.batching_window, resource.max_concurrency) == (50, 20, 3)
    assert resource.visibility_timeout == 6 * 120 + 20
    tuned.template.has_resource_properties(
        "AWS::SQS::Queue", {"QueueName": resource.queue_name, "VisibilityTimeout": 6 * 120 + 20}
    )
    tuned.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"BatchSize": 50, "MaximumBatchingWindowInSeconds": 20, "ScalingConfig": {"MaximumConcurrency": 3}},
    )


def test_stateful_resources_follow_the_removal_policy(shop: Synth, tuned: Synth) -> None:
    # Kept on update and delete, but deleted when the operation that created them rolls back: fixed names
    # would otherwise make the retried first deploy fail with "already exists".
    for synth, deletion, replace in ((shop, "RetainExceptOnCreate", "Retain"), (tuned, "Delete", "Delete")):
        for type_ in (
            "AWS::SQS::Queue",
            "AWS::DynamoDB::Table",
            "AWS::Logs::LogGroup",
            "AWS::Scheduler::ScheduleGroup",
        ):
            for resource in synth.resources(type_).values():
                assert resource["DeletionPolicy"] == deletion, type_
                assert resource["UpdateReplacePolicy"] == replace, type_


def test_no_resource_is_plainly_retained_so_a_failed_first_deploy_can_be_retried(synth: Synth) -> None:
    retained = [k for k, r in synth.json["Resources"].items() if r.get("DeletionPolicy") == "Retain"]
    assert retained == []


def test_every_worker_event_source_caps_its_concurrency_by_default(shop: Synth) -> None:
    topology = shop.stack.service.topology
    worker = {"Ref": shop.logical_id_of(shop.stack.service.worker.function)}
    caps = {
        logical_id(props["EventSourceArn"]): props.get("ScalingConfig", {}).get("MaximumConcurrency")
        for props in (m["Properties"] for m in shop.resources("AWS::Lambda::EventSourceMapping").values())
        if props["FunctionName"] == worker
    }
    sources, _ = _queues(shop)
    by_name = {queue["Properties"]["QueueName"]: queue_id for queue_id, queue in sources.items()}
    # The shop's "default" queue declares nothing; "reports" declares max_concurrency=5.
    assert caps == {
        by_name[topology.queue("default").queue_name]: limits.DEFAULT_MAX_CONCURRENCY,
        by_name[topology.queue("reports").queue_name]: 5,
    }
    assert limits.ESM_MIN_MAX_CONCURRENCY <= limits.DEFAULT_MAX_CONCURRENCY <= limits.ESM_MAX_MAX_CONCURRENCY


#: An app one of whose queues asks for no cap, explicitly.
UNCAPPED = Squall("uncapped", queues=[Queue("default"), Queue("bulk", max_concurrency=None)])


@pytest.fixture(scope="module")
def uncapped(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    outdir = tmp_path_factory.mktemp("cdk-uncapped")
    stack = SquallStack(
        cdk.App(outdir=str(outdir)),
        "uncapped",
        app=UNCAPPED,
        options=DeployOptions(app_spec="uncapped:app", powertools_layer_arn=LAYER),
    )
    template = Template.from_stack(stack)
    return Synth(stack, template, dict(template.to_json()), outdir)


def test_a_queue_without_a_cap_must_say_so_and_its_event_source_then_has_no_scaling_config(uncapped: Synth) -> None:
    queue_ids = {q["Properties"]["QueueName"]: k for k, q in uncapped.resources("AWS::SQS::Queue").items()}
    mappings = _mappings_by_queue(uncapped)
    assert "ScalingConfig" not in mappings[queue_ids["squall-uncapped-bulk"]]
    assert mappings[queue_ids["squall-uncapped-default"]]["ScalingConfig"] == {
        "MaximumConcurrency": limits.DEFAULT_MAX_CONCURRENCY
    }


def test_the_synth_warns_when_the_event_sources_could_take_the_regions_default_concurrency(uncapped: Synth) -> None:
    (warning,) = Annotations.from_stack(uncapped.stack).find_warning("*", Match.string_like_regexp("concurrent"))
    assert "may run 1262 concurrent invocations (queues ['bulk'] have no max_concurrency)" in str(warning.entry.data)


def test_the_synth_does_not_warn_about_concurrency_when_every_queue_is_capped(shop: Synth) -> None:
    assert Annotations.from_stack(shop.stack).find_warning("*", Match.string_like_regexp("concurrent")) == []


def test_a_null_max_concurrency_in_the_context_asks_for_no_cap() -> None:
    context = {**SHOP_CONTEXT, "squall:queues": '{"reports": {"max_concurrency": null}}'}
    options = DeployOptions.from_context(context.get, base=ROOT)
    topology = describe(options.load_app(), overrides=options.queue_overrides)
    assert topology.queue("reports").max_concurrency is None
    assert topology.queue("default").max_concurrency == limits.DEFAULT_MAX_CONCURRENCY
