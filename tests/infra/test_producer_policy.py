"""Producers may read task records and write only the PENDING record of a long delay, nothing else.

The template tests pin the statement; the SDK tests run a producer on the local runtime, catch the very
UpdateItem requests it sends and hold them against the statement's attribute list, the way IAM evaluates
``dynamodb:Attributes`` (the request's key, and every attribute its expressions name). A change to what
``TaskStore.hold`` writes that the policy does not follow fails here, not with AccessDenied on AWS.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cdk_support import Synth, render

from squall import Squall, local
from squall.cdk import policies
from squall.state.expressions import NAMES
from squall.states import State

#: The conditions IAM evaluates for the producer's one write (squall.cdk.policies.hold_task_records).
HOLD_CONDITIONS = {
    "ForAllValues:StringEquals": {"dynamodb:Attributes": list(policies.HELD_TASK_ATTRIBUTES)},
    "Null": {"dynamodb:Attributes": "false"},
    "StringEqualsIfExists": {"dynamodb:ReturnValues": "NONE"},
}


def _producer_statements(synth: Synth) -> list[dict[str, Any]]:
    logical = synth.logical_id_of(synth.stack.service.producer_policy)
    policy = synth.resources("AWS::IAM::ManagedPolicy")[logical]
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def _operator_statements(synth: Synth) -> list[dict[str, Any]]:
    logical = synth.logical_id_of(synth.stack.service.operator_policy)
    policy = synth.resources("AWS::IAM::ManagedPolicy")[logical]
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_the_producers_only_table_write_is_an_update_naming_the_held_attributes(synth: Synth) -> None:
    (table_id,) = synth.resources("AWS::DynamoDB::Table")
    writes = [s for s in _producer_statements(synth) if any(a.startswith("dynamodb:") for a in _actions(s))]
    by_action = {action: s for s in writes for action in _actions(s)}
    assert set(by_action) == {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"}
    assert "Condition" not in by_action["dynamodb:GetItem"]
    assert by_action["dynamodb:BatchGetItem"] is by_action["dynamodb:GetItem"]  # reads only, results and groups
    update = by_action["dynamodb:UpdateItem"]
    assert _actions(update) == ["dynamodb:UpdateItem"]
    assert render(update["Resource"]) == f"<{table_id}.Arn>"
    assert update["Condition"] == HOLD_CONDITIONS


def test_the_held_attributes_leave_out_results_errors_claims_and_the_listing_index() -> None:
    forbidden = {"result", "error", "progress", "reason", "token", "lease_until", "attempt", "ix_pk", "ix_sk"}
    assert not forbidden & set(policies.HELD_TASK_ATTRIBUTES)


def test_operators_may_update_any_attribute_of_a_task_record_to_revoke_or_redrive(synth: Synth) -> None:
    (tasks,) = [s for s in _operator_statements(synth) if s["Sid"] == "ListAndResetTasks"]
    assert "dynamodb:UpdateItem" in _actions(tasks)
    assert "Condition" not in tasks


# --- what the SDK sends -----------------------------------------------------------------------------------

#: A producer's app: one task, sent with a delay past SQS's 900 s.
app = Squall("held")


@app.task(name="later")
def later() -> None: ...


def _named(request: dict[str, Any]) -> set[str]:
    """The attributes IAM's dynamodb:Attributes holds for an UpdateItem: its key's and its expressions'."""
    names = set(request["Key"]) | set(request.get("ExpressionAttributeNames", {}).values())
    expressions = " ".join(request.get(k, "") for k in ("UpdateExpression", "ConditionExpression"))
    # Every name the store writes goes through a placeholder; a bare one would escape the set above.
    bare = {name for name in NAMES.values() if f" {name} " in f" {expressions} "}
    return names | bare


@pytest.fixture
def updates() -> Iterator[tuple[local.Runtime, list[dict[str, Any]]]]:
    """The local runtime, and every UpdateItem request its producer sends from now on."""
    sent: list[dict[str, Any]] = []

    def catch(params: dict[str, Any], **_: Any) -> None:
        sent.append(dict(params))

    with local.run(app) as rt:
        rt.app.dynamodb.meta.events.register("provide-client-params.dynamodb.UpdateItem", catch)
        yield rt, sent


def test_a_long_delay_writes_only_what_the_producer_policy_lets_it_name(
    updates: tuple[local.Runtime, list[dict[str, Any]]],
) -> None:
    _, sent = updates

    # When a producer sends a task an hour ahead
    result = later.apply_async(countdown=3600)

    # Then its one table write is the PENDING record, within the policy's attributes, reading nothing back
    (hold,) = sent
    assert result.state is State.PENDING
    assert _named(hold) <= set(policies.HELD_TASK_ATTRIBUTES)
    assert hold.get("ReturnValues", "NONE") == "NONE"
    assert hold.get("ReturnValuesOnConditionCheckFailure", "NONE") == "NONE"  # no condition key sees it


def test_a_long_delay_sent_twice_reads_the_first_record_back_with_a_get(
    updates: tuple[local.Runtime, list[dict[str, Any]]],
) -> None:
    _, sent = updates

    # Given a task already held an hour ahead
    first = later.apply_async(countdown=3600, task_id="held-twice")

    # When the producer sends the same id again
    second = later.apply_async(countdown=3600, task_id="held-twice")

    # Then the second write was refused without asking for the item, and the record is the first one's
    assert [s.get("ReturnValuesOnConditionCheckFailure", "NONE") for s in sent] == ["NONE", "NONE"]
    assert first.id == second.id
    assert second.state is State.PENDING


def test_a_revoke_names_more_than_producers_may_so_it_is_an_operator_action(
    updates: tuple[local.Runtime, list[dict[str, Any]]],
) -> None:
    _, sent = updates

    # When a task is revoked
    app.revoke("some-task")

    # Then the write names attributes outside the producer policy's list (AccessDenied for a producer)
    (revoke,) = sent
    assert _named(revoke) - set(policies.HELD_TASK_ATTRIBUTES) >= {"finished_at", "ix_pk", "ix_sk", "token"}
