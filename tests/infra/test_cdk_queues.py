"""Every queue the stack deploys is encrypted, TLS-only, redriven and sized from the Topology."""

from __future__ import annotations

from typing import Any

from cdk_support import Synth, logical_id

from squall import limits


def _queues(synth: Synth) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(source queues, dead-letter queues) by logical id: a DLQ is any queue no redrive policy leaves."""
    queues = synth.resources("AWS::SQS::Queue")
    sources = {k: q for k, q in queues.items() if "RedrivePolicy" in q["Properties"]}
    return sources, {k: q for k, q in queues.items() if k not in sources}


def _mappings_by_queue(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        logical_id(esm["Properties"]["EventSourceArn"]): esm["Properties"]
        for esm in synth.resources("AWS::Lambda::EventSourceMapping").values()
    }


def test_each_declared_queue_has_a_source_queue_and_a_dead_letter_queue(synth: Synth) -> None:
    sources, dead = _queues(synth)
    names = {q["Properties"]["QueueName"] for q in synth.resources("AWS::SQS::Queue").values()}
    topology = synth.stack.service.topology
    assert names == {
        *(r.queue_name for r in topology.queues),
        *(r.dlq_name for r in topology.queues),
        topology.scheduler_dlq_name,
    }
    assert len(sources) == len(topology.queues)
    assert len(dead) == len(topology.queues) + 1  # plus the scheduler's


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


def test_every_source_queue_redrives_to_a_dead_letter_queue_after_the_topology_receive_count(synth: Synth) -> None:
    sources, dead = _queues(synth)
    topology = synth.stack.service.topology
    for queue in sources.values():
        props = queue["Properties"]
        resource = next(r for r in topology.queues if r.queue_name == props["QueueName"])
        policy = props["RedrivePolicy"]
        assert logical_id(policy["deadLetterTargetArn"]) in dead
        assert dead[logical_id(policy["deadLetterTargetArn"])]["Properties"]["QueueName"] == resource.dlq_name
        assert policy["maxReceiveCount"] == resource.max_receive_count >= limits.SQS_MIN_RECEIVE_COUNT_FOR_LAMBDA


def test_dead_letter_queues_keep_messages_longer_than_their_sources(synth: Synth) -> None:
    sources, dead = _queues(synth)
    for queue in sources.values():
        props = queue["Properties"]
        dlq = dead[logical_id(props["RedrivePolicy"]["deadLetterTargetArn"])]["Properties"]
        assert dlq["MessageRetentionPeriod"] > props["MessageRetentionPeriod"]
    for queue in dead.values():
        assert queue["Properties"]["MessageRetentionPeriod"] == limits.SQS_MAX_RETENTION_SECONDS


def test_task_queues_accept_one_mebibyte_messages_explicitly(synth: Synth) -> None:
    topology = synth.stack.service.topology
    names = {r.queue_name for r in topology.queues} | {r.dlq_name for r in topology.queues}
    for queue in synth.resources("AWS::SQS::Queue").values():
        if queue["Properties"]["QueueName"] in names:
            assert queue["Properties"]["MaximumMessageSize"] == limits.SQS_MAX_MESSAGE_BYTES == 1_048_576


def test_visibility_timeout_is_six_function_timeouts_plus_the_batching_window(synth: Synth) -> None:
    (function,) = synth.resources("AWS::Lambda::Function").values()
    timeout = function["Properties"]["Timeout"]
    mappings = _mappings_by_queue(synth)
    sources, _ = _queues(synth)
    for queue_id, queue in sources.items():
        window = mappings[queue_id].get("MaximumBatchingWindowInSeconds", 0)
        assert queue["Properties"]["VisibilityTimeout"] >= 6 * timeout + window
        assert queue["Properties"]["VisibilityTimeout"] <= limits.SQS_MAX_VISIBILITY_SECONDS


def test_every_event_source_reports_batch_item_failures_with_the_topology_polling_settings(synth: Synth) -> None:
    mappings = _mappings_by_queue(synth)
    sources, _ = _queues(synth)
    topology = synth.stack.service.topology
    assert set(mappings) == set(sources)
    for queue_id, props in mappings.items():
        resource = next(r for r in topology.queues if r.queue_name == sources[queue_id]["Properties"]["QueueName"])
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["BatchSize"] == resource.batch_size
        assert props.get("MaximumBatchingWindowInSeconds", 0) == resource.batching_window
        assert props.get("ScalingConfig", {}).get("MaximumConcurrency") == resource.max_concurrency


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
    for synth, policy in ((shop, "Retain"), (tuned, "Delete")):
        for type_ in (
            "AWS::SQS::Queue",
            "AWS::DynamoDB::Table",
            "AWS::Logs::LogGroup",
            "AWS::Scheduler::ScheduleGroup",
        ):
            for resource in synth.resources(type_).values():
                assert resource["DeletionPolicy"] == policy, type_
                assert resource["UpdateReplacePolicy"] == policy, type_
