"""Least privilege, the whole surface: the stack's only principals are the ones reviewed in test_cdk_iam.py.

test_cdk_iam.py pins what the worker, reconciler and scheduler roles and the producer policy may do. These tests
make sure nothing else can act: no other role (a custom resource's, say) slips in, no AWS managed policy
is attached, no user or access key exists, and each role can be assumed only by its one service.
"""

from __future__ import annotations

from typing import Any

from cdk_support import Synth, logical_id

#: Every IAM resource type the stack may contain; anything else (users, groups, keys...) is refused.
ALLOWED_IAM_TYPES = {"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}


def _role_ids(synth: Synth) -> dict[str, str]:
    """Logical id of each role the stack owns -> the service that may assume it."""
    service = synth.stack.service
    return {
        synth.logical_id_of(service.worker.role): "lambda.amazonaws.com",
        synth.logical_id_of(service.reconciler.role): "lambda.amazonaws.com",
        synth.logical_id_of(service.scheduler.role): "scheduler.amazonaws.com",
    }


def test_the_only_roles_are_the_worker_the_reconciler_and_the_scheduler(synth: Synth) -> None:
    assert set(synth.resources("AWS::IAM::Role")) == set(_role_ids(synth))


def test_no_iam_users_groups_or_access_keys_exist(synth: Synth) -> None:
    types = {r["Type"] for r in synth.json["Resources"].values() if r["Type"].startswith("AWS::IAM::")}
    assert types <= ALLOWED_IAM_TYPES


def test_no_role_carries_a_managed_policy_or_an_embedded_one(synth: Synth) -> None:
    for logical, role in synth.resources("AWS::IAM::Role").items():
        props: dict[str, Any] = role["Properties"]
        assert "ManagedPolicyArns" not in props, logical
        assert "Policies" not in props, logical


def test_each_role_is_assumable_only_by_its_own_service(synth: Synth) -> None:
    for logical, service in _role_ids(synth).items():
        document = synth.json["Resources"][logical]["Properties"]["AssumeRolePolicyDocument"]
        (statement,) = document["Statement"]
        assert statement["Effect"] == "Allow"
        assert statement["Action"] == "sts:AssumeRole"
        assert statement["Principal"] == {"Service": service}


def test_every_policy_attaches_to_a_known_role_and_the_producer_policy_to_none(synth: Synth) -> None:
    roles = set(_role_ids(synth))
    for logical, policy in synth.resources("AWS::IAM::Policy").items():
        attached = {logical_id(r) for r in policy["Properties"].get("Roles", [])}
        assert attached, logical
        assert attached <= roles, logical
        assert not policy["Properties"].get("Users"), logical
        assert not policy["Properties"].get("Groups"), logical
    for logical, policy in synth.resources("AWS::IAM::ManagedPolicy").items():
        # Producers attach it to their own roles; the stack's roles never need it.
        assert not {"Roles", "Users", "Groups"} & set(policy["Properties"]), logical
