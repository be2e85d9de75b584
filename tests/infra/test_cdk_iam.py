"""Least privilege: no wildcard actions, no service-wide resources, and each role can do only its job."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from aws_cdk import aws_iam as iam
from cdk_support import Synth, logical_id, render

#: The one statement AWS requires on Resource "*": X-Ray trace upload has no resource-level permissions.
#: Lambda active tracing adds it to the worker role; infra/nag.py acknowledges AwsSolutions-IAM5 for it.
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
#: The operator policy's one statement on Resource "*": CloudWatch metric reads have no resource-level permissions
#: (the dashboard's charts; tests/infra/test_cdk_operator_metrics.py).
METRIC_READ_ACTIONS = {"cloudwatch:GetMetricData"}
#: An ARN whose resource part is only a wildcard, e.g. arn:aws:sqs:*:*:* or arn:aws:sqs:us-east-1:123:*.
SERVICE_WIDE = re.compile(r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:\*$")


def _statements(synth: Synth) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical, resource in synth.json["Resources"].items():
        props = resource.get("Properties", {})
        documents = [props["PolicyDocument"]] if "PolicyDocument" in props else []
        documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
        if resource["Type"] == "AWS::IAM::Role":
            documents.append(props["AssumeRolePolicyDocument"])
        for document in documents:
            for statement in document["Statement"]:
                yield logical, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _allowed(synth: Synth, role_id: str) -> dict[str, set[str]]:
    """Action -> rendered resources granted to role ``role_id`` by its inline policies."""
    allowed: dict[str, set[str]] = {}
    for policy in synth.resources("AWS::IAM::Policy").values():
        if role_id not in {logical_id(r) for r in policy["Properties"]["Roles"]}:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            for action in _as_list(statement["Action"]):
                allowed.setdefault(action, set()).update(str(render(r)) for r in _as_list(statement["Resource"]))
    return allowed


def _statements_of(synth: Synth, role_id: str) -> list[dict[str, Any]]:
    """Every statement of role ``role_id``'s inline policies."""
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if role_id in {logical_id(r) for r in policy["Properties"]["Roles"]}
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _group_schedules(synth: Synth) -> str:
    """This app's schedules, as the stack renders their ARN pattern."""
    group = synth.stack.service.topology.schedule_group
    return f"arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/{group}/*"


def _managed_policy(synth: Synth, policy: iam.ManagedPolicy) -> dict[str, Any]:
    """The template resource of one of the stack's managed policies."""
    logical = synth.stack.get_logical_id(policy.node.default_child)  # type: ignore[arg-type]
    resource: dict[str, Any] = synth.resources("AWS::IAM::ManagedPolicy")[logical]
    return resource


def test_no_statement_allows_wildcard_actions(synth: Synth) -> None:
    for logical, statement in _statements(synth):
        if statement["Effect"] == "Allow":
            for action in _as_list(statement["Action"]):
                assert "*" not in action, f"{logical}: {action}"


def test_no_statement_allows_every_resource_except_xray_trace_upload_and_the_operators_metric_reads(
    synth: Synth,
) -> None:
    operator = synth.logical_id_of(synth.stack.service.operator_policy)
    for logical, statement in _statements(synth):
        if statement["Effect"] != "Allow" or "Resource" not in statement:
            continue
        for resource in _as_list(statement["Resource"]):
            rendered = str(render(resource))
            assert not SERVICE_WIDE.match(rendered), f"{logical}: {rendered}"
            if rendered == "*":
                allowed = [XRAY_ACTIONS, METRIC_READ_ACTIONS] if logical == operator else [XRAY_ACTIONS]
                assert set(_as_list(statement["Action"])) in allowed, f"{logical}: {statement['Action']}"


def test_scheduler_role_can_only_send_to_the_apps_queues(synth: Synth) -> None:
    scheduler = synth.stack.service.scheduler
    role_id = synth.stack.get_logical_id(scheduler.role.node.default_child)  # type: ignore[arg-type]
    queue_ids = {q["Properties"]["QueueName"]: k for k, q in synth.resources("AWS::SQS::Queue").items()}
    topology = synth.stack.service.topology
    expected = {f"<{queue_ids[r.queue_name]}.Arn>" for r in topology.queues}
    expected.add(f"<{queue_ids[topology.scheduler_dlq_name]}.Arn>")
    assert _allowed(synth, role_id) == {"sqs:SendMessage": expected}
    role = synth.json["Resources"][role_id]["Properties"]
    # IAM role names are account-wide: a fixed one would collide across Regions and stages.
    assert "RoleName" not in role
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert "ManagedPolicyArns" not in role


def test_worker_role_consumes_its_queues_dead_letters_updates_task_records_and_schedules_long_retries_only(
    synth: Synth,
) -> None:
    worker = synth.stack.service.worker
    role_id = synth.logical_id_of(worker.role)
    queue_ids = {q["Properties"]["QueueName"]: k for k, q in synth.resources("AWS::SQS::Queue").items()}
    topology = synth.stack.service.topology
    sources = {f"<{queue_ids[r.queue_name]}.Arn>" for r in topology.queues}
    dead = {f"<{queue_ids[r.dlq_name]}.Arn>" for r in topology.queues}
    (table_id,) = synth.resources("AWS::DynamoDB::Table")
    worker_log_group_id = synth.logical_id_of(worker.log_group)
    consume = {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    }
    expected = {action: sources for action in consume}
    expected["sqs:SendMessage"] = sources | dead
    expected["dynamodb:UpdateItem"] = expected["dynamodb:GetItem"] = {f"<{table_id}.Arn>"}
    expected["dynamodb:BatchGetItem"] = {f"<{table_id}.Arn>"}  # a chord body reads its members
    expected["logs:CreateLogStream"] = expected["logs:PutLogEvents"] = {f"<{worker_log_group_id}.Arn>"}
    expected["scheduler:CreateSchedule"] = {_group_schedules(synth)}
    expected["iam:PassRole"] = {f"<{synth.logical_id_of(synth.stack.service.scheduler.role)}.Arn>"}
    expected.update({action: {"*"} for action in XRAY_ACTIONS})
    payloads = f"<{synth.logical_id_of(synth.stack.service.payloads.bucket)}.Arn>"  # squall.offload
    arguments = {f"{payloads}/args/*", f"{payloads}/args-delayed/*"}
    expected["s3:GetObject"] = expected["s3:PutObject"] = {*arguments, f"{payloads}/results/*"}
    expected["s3:ListBucket"] = {payloads}
    if synth.stack.service.worker.function.node.try_get_context("squall:signingParameter"):
        expected["secretsmanager:GetSecretValue"] = {SIGNING_SECRET_ARN}
    assert _allowed(synth, role_id) == expected
    assert "ManagedPolicyArns" not in synth.json["Resources"][role_id]["Properties"]


def test_worker_may_create_schedules_only_in_its_group_and_pass_only_the_scheduler_role_to_scheduler(
    synth: Synth,
) -> None:
    statements = _statements_of(synth, synth.logical_id_of(synth.stack.service.worker.role))
    scheduling = [s for s in statements if any(a.startswith("scheduler:") for a in _as_list(s["Action"]))]
    passing = [s for s in statements if "iam:PassRole" in _as_list(s["Action"])]
    assert [(s["Action"], render(s["Resource"]), s.get("Condition")) for s in scheduling] == [
        ("scheduler:CreateSchedule", _group_schedules(synth), None)
    ]
    scheduler_role_id = synth.logical_id_of(synth.stack.service.scheduler.role)
    assert [(s["Action"], render(s["Resource"]), s["Condition"]) for s in passing] == [
        (
            "iam:PassRole",
            f"<{scheduler_role_id}.Arn>",
            {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
        )
    ]


def test_worker_no_longer_reads_or_deletes_schedules(synth: Synth) -> None:
    allowed = _allowed(synth, synth.logical_id_of(synth.stack.service.worker.role))
    assert {a for a in allowed if a.startswith("scheduler:")} == {"scheduler:CreateSchedule"}


def test_reconciler_role_drains_the_intake_dead_letters_and_records_tasks_dead_only(synth: Synth) -> None:
    service = synth.stack.service
    role_id = synth.logical_id_of(service.reconciler.role)
    queue_ids = {q["Properties"]["QueueName"]: k for k, q in synth.resources("AWS::SQS::Queue").items()}
    topology = service.topology
    intake = {f"<{queue_ids[topology.intake.name]}.Arn>"}
    (table_id,) = synth.resources("AWS::DynamoDB::Table")
    consume = {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    }
    expected = {action: intake for action in consume}
    expected["sqs:SendMessage"] = {f"<{queue_ids[r.dlq_name]}.Arn>" for r in topology.queues}
    expected["dynamodb:UpdateItem"] = expected["dynamodb:GetItem"] = {f"<{table_id}.Arn>"}
    expected["dynamodb:BatchGetItem"] = {f"<{table_id}.Arn>"}  # shared with the worker: the same statement
    log_group_id = synth.logical_id_of(service.reconciler.log_group)
    expected["logs:CreateLogStream"] = expected["logs:PutLogEvents"] = {f"<{log_group_id}.Arn>"}
    expected.update({action: {"*"} for action in XRAY_ACTIONS})
    payloads = f"<{synth.logical_id_of(service.payloads.bucket)}.Arn>"  # it reads offloaded arguments only
    expected["s3:GetObject"] = {f"{payloads}/args/*", f"{payloads}/args-delayed/*"}
    expected["s3:ListBucket"] = {payloads}
    if service.reconciler.function.node.try_get_context("squall:signingParameter"):
        expected["secretsmanager:GetSecretValue"] = {SIGNING_SECRET_ARN}
    assert _allowed(synth, role_id) == expected
    assert "ManagedPolicyArns" not in synth.json["Resources"][role_id]["Properties"]


#: The tuned deployment's signing keyring, as the stack renders its ARN (Secrets Manager adds 6 characters).
SIGNING_SECRET_ARN = (
    "arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:squall/shop/signing-??????"
)


def test_signing_keys_reach_both_functions_producers_and_operators_only_when_signing_is_configured(
    shop: Synth, tuned: Synth
) -> None:
    for synth, signing in ((shop, False), (tuned, True)):
        variables = synth.properties_of(synth.stack.service.worker.function)["Environment"]["Variables"]
        reconciler = synth.properties_of(synth.stack.service.reconciler.function)["Environment"]["Variables"]
        assert reconciler == variables
        # Producers sign; operators read signed schedule bodies and sign what a revoke sends (squall.ops.revoking)
        for managed in (synth.stack.service.producer_policy, synth.stack.service.operator_policy):
            policy = _managed_policy(synth, managed)
            sids = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
            if not signing:
                assert "SQUALL_SIGNING_PARAMETER" not in variables
                assert "ReadSigningKeys" not in sids
                continue
            assert variables["SQUALL_SIGNING_PARAMETER"] == "secretsmanager:squall/shop/signing"
            assert sids["ReadSigningKeys"]["Action"] == "secretsmanager:GetSecretValue"
            assert render(sids["ReadSigningKeys"]["Resource"]) == SIGNING_SECRET_ARN


def test_producer_policy_sends_tasks_reads_results_and_manages_only_its_groups_schedules(synth: Synth) -> None:
    policy = _managed_policy(synth, synth.stack.service.producer_policy)
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    queue_ids = {q["Properties"]["QueueName"]: k for k, q in synth.resources("AWS::SQS::Queue").items()}
    topology = synth.stack.service.topology
    (table_id,) = synth.resources("AWS::DynamoDB::Table")
    (parameter_id,) = synth.resources("AWS::SSM::Parameter")
    scheduler_role_id = synth.stack.get_logical_id(
        synth.stack.service.scheduler.role.node.default_child  # type: ignore[arg-type]
    )

    assert statements["SendTasks"]["Action"] == "sqs:SendMessage"
    assert {render(r) for r in statements["SendTasks"]["Resource"]} == {
        f"<{queue_ids[r.queue_name]}.Arn>" for r in topology.queues
    }
    assert statements["ReadResults"]["Action"] == ["dynamodb:GetItem", "dynamodb:BatchGetItem"]
    assert render(statements["ReadResults"]["Resource"]) == f"<{table_id}.Arn>"
    hold = statements["HoldDelayedTasks"]
    assert hold["Action"] == "dynamodb:UpdateItem"
    assert render(hold["Resource"]) == f"<{table_id}.Arn>"
    assert "Condition" in hold  # what it may name: tests/infra/test_producer_policy.py
    assert statements["ReadSettings"]["Action"] == "ssm:GetParameter"
    assert render(statements["ReadSettings"]["Resource"]).endswith(f":parameter<{parameter_id}>")
    schedules = statements["ManageSchedules"]
    assert schedules["Action"] == [
        "scheduler:CreateSchedule",
        "scheduler:DeleteSchedule",
        "scheduler:GetSchedule",
        "scheduler:UpdateSchedule",
    ]
    assert render(schedules["Resource"]).endswith(f":schedule/{topology.schedule_group}/*")
    pass_role = statements["PassSchedulerRole"]
    assert pass_role["Action"] == "iam:PassRole"
    assert render(pass_role["Resource"]) == f"<{scheduler_role_id}.Arn>"
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    assert set(statements) - {"ReadSigningKeys"} == {  # signing: see the signing-keys test below
        "SendTasks",
        "ReadResults",
        "HoldDelayedTasks",
        "ReadSettings",
        "ManageSchedules",
        "PassSchedulerRole",
        "PayloadsGet",  # squall.offload: results/* (tests/infra/test_cdk_payload_bucket.py)
        "PayloadsPut",  # args/* and args-delayed/*
        "PayloadsList",
    }


def test_operator_policy_reaches_only_this_apps_table_index_queues_and_schedules(synth: Synth) -> None:
    policy = _managed_policy(synth, synth.stack.service.operator_policy)
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    queue_ids = {q["Properties"]["QueueName"]: k for k, q in synth.resources("AWS::SQS::Queue").items()}
    topology = synth.stack.service.topology
    (table_id,) = synth.resources("AWS::DynamoDB::Table")
    sources = {f"<{queue_ids[r.queue_name]}.Arn>" for r in topology.queues}
    dead_letters = {f"<{queue_ids[r.dlq_name]}.Arn>" for r in topology.queues}

    tasks = statements["ListAndResetTasks"]
    assert tasks["Action"] == ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem", "dynamodb:Query"]
    assert {render(r) for r in tasks["Resource"]} == {
        f"<{table_id}.Arn>",
        f"<{table_id}.Arn>/index/{topology.table.index_name}",
    }
    # squall limits: overrides and pauses are UpdateItems (above); `limits show` scans for a task's keys
    assert statements["ShowLimitKeys"]["Action"] == "dynamodb:Scan"
    assert render(statements["ShowLimitKeys"]["Resource"]) == f"<{table_id}.Arn>"
    assert {render(r) for r in statements["InspectQueues"]["Resource"]} == sources | dead_letters
    assert {render(r) for r in statements["RedriveDeadLetters"]["Resource"]} == dead_letters
    assert {render(r) for r in statements["SendRedrivenTasks"]["Resource"]} == sources
    schedules = statements["ManageSchedules"]
    # A revoke reads a long-delayed step's body, and may send its chord's body with a long delay of its own
    assert schedules["Action"] == [
        "scheduler:CreateSchedule",
        "scheduler:GetSchedule",
        "scheduler:DeleteSchedule",
        "scheduler:UpdateSchedule",
    ]
    assert render(schedules["Resource"]).endswith(f":schedule/{topology.schedule_group}/*")
    assert statements["PassSchedulerRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}
    }
    for statement in statements.values():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any("*" in action for action in actions)


def test_no_policy_lets_anyone_start_an_sqs_message_move_task(synth: Synth) -> None:
    # SQS's own DLQ redrive would bring back DEAD tasks, which the worker acknowledges unrun: operators use
    # `squall dlq redrive`, which resets each task's record first (docs/deploy.md, "Tear down safely").
    for logical, statement in _statements(synth):
        for action in _as_list(statement["Action"]):
            assert "MessageMoveTask" not in action, f"{logical}: {action}"
