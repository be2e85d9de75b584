"""squall.cdk.policies: one factory per kind of statement, each scoped one way, the only place statements are built."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from cdk_support import CDK_PACKAGE

from squall.cdk import policies


@pytest.fixture(scope="module")
def stack() -> cdk.Stack:
    """An empty stack to hold the resources the statements point at."""
    return cdk.Stack(cdk.App(), "Policies")


@pytest.fixture(scope="module")
def table(stack: cdk.Stack) -> dynamodb.ITable:
    """A task table, by ARN."""
    return dynamodb.Table.from_table_arn(stack, "Tasks", "arn:aws:dynamodb:us-east-1:123456789012:table/tasks")


def _json(stack: cdk.Stack, statement: iam.PolicyStatement) -> dict[str, Any]:
    resolved: dict[str, Any] = stack.resolve(statement.to_statement_json())
    return resolved


#: Each factory whose actions are the caller's, called with ``actions`` on a resource of its service.
FACTORIES: dict[str, Callable[[cdk.Stack, dynamodb.ITable, list[str]], iam.PolicyStatement]] = {
    "sqs": lambda stack, table, actions: policies.on_queues(actions=actions, queues=[]),
    "dynamodb": lambda stack, table, actions: policies.on_task_records(actions=actions, table=table),
    "scheduler": lambda stack, table, actions: policies.on_schedules(actions=actions, stack=stack, group="g"),
}


@pytest.mark.parametrize("service", sorted(FACTORIES))
def test_a_factory_refuses_an_action_of_another_service(stack: cdk.Stack, table: dynamodb.ITable, service: str) -> None:
    factory = FACTORIES[service]
    factory(stack, table, [f"{service}:AnyAction"])  # its own service's prefix passes

    with pytest.raises(ValueError, match=r"takes \w+: actions only, got \['iam:PassRole'\]"):
        factory(stack, table, ["iam:PassRole"])


def test_a_task_records_statement_reaches_an_index_only_when_it_is_named(
    stack: cdk.Stack, table: dynamodb.ITable
) -> None:
    items = _json(stack, policies.on_task_records(actions=["dynamodb:GetItem"], table=table))
    listing = _json(stack, policies.on_task_records(actions=["dynamodb:Query"], table=table, index_name="by-state"))

    assert items["Resource"] == "arn:aws:dynamodb:us-east-1:123456789012:table/tasks"
    assert listing["Resource"] == [
        "arn:aws:dynamodb:us-east-1:123456789012:table/tasks",
        "arn:aws:dynamodb:us-east-1:123456789012:table/tasks/index/by-state",
    ]


def test_a_queue_statement_names_each_queue_and_keeps_the_actions_order(stack: cdk.Stack) -> None:
    queues = [sqs.Queue.from_queue_arn(stack, f"Q{n}", f"arn:aws:sqs:us-east-1:123456789012:q{n}") for n in (1, 2)]

    statement = _json(
        stack, policies.on_queues(sid="Drain", actions=["sqs:ReceiveMessage", "sqs:DeleteMessage"], queues=queues)
    )

    assert statement == {
        "Sid": "Drain",
        "Effect": "Allow",
        "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
        "Resource": ["arn:aws:sqs:us-east-1:123456789012:q1", "arn:aws:sqs:us-east-1:123456789012:q2"],
    }


def test_a_pass_role_statement_passes_the_role_to_its_one_service_only(stack: cdk.Stack) -> None:
    role = iam.Role.from_role_arn(stack, "Scheduler", "arn:aws:iam::123456789012:role/scheduler")

    statement = _json(stack, policies.pass_role(role=role, to_service="scheduler.amazonaws.com"))

    assert statement["Action"] == "iam:PassRole"
    assert statement["Resource"] == "arn:aws:iam::123456789012:role/scheduler"
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}


def test_statements_are_built_by_squall_cdk_policies_only() -> None:
    # CDK's grant helpers (queue.grant, table.grant_read_write...) would add actions and index wildcards.
    for path in sorted(CDK_PACKAGE.rglob("*.py")):
        if path.name == "policies.py":
            continue
        source = path.read_text(encoding="utf-8")
        assert "PolicyStatement(" not in source, f"{path.name} builds a statement: use squall.cdk.policies"
        assert ".grant(" not in source, f"{path.name} grants through a CDK helper: use squall.cdk.policies"
