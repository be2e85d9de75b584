"""The payload bucket in the template: private, encrypted, TLS-only, expired by prefix after the derived
lifetimes, removed as the stack's removal policy says, and granted by prefix (squall.offload).

Uses the session's two synths (``shop``: retain; ``tuned``: destroy, signing on).
"""

from __future__ import annotations

import json
from typing import Any

from cdk_support import Synth, logical_id, render

from squall import limits
from squall.offload import bucket as payloads


def bucket_of(synth: Synth) -> tuple[str, dict[str, Any]]:
    construct = synth.stack.service.payloads.bucket
    logical = synth.logical_id_of(construct)
    return logical, synth.json["Resources"][logical]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants_of(statements: list[dict[str, Any]], logical: str) -> dict[str, set[str]]:
    """S3 action -> rendered resources, over ``statements`` that name the payload bucket."""
    found: dict[str, set[str]] = {}
    for statement in statements:
        resources = [str(render(r)) for r in _as_list(statement["Resource"])]
        if not any(f"<{logical}.Arn>" in r for r in resources):
            continue
        for action in _as_list(statement["Action"]):
            found.setdefault(action, set()).update(resources)
    return found


def role_statements(synth: Synth, role: Any) -> list[dict[str, Any]]:
    role_id = synth.logical_id_of(role)
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if role_id in {logical_id(r) for r in policy["Properties"]["Roles"]}
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def managed_statements(synth: Synth, policy: Any) -> list[dict[str, Any]]:
    document = synth.resources("AWS::IAM::ManagedPolicy")[synth.logical_id_of(policy)]["Properties"]
    return list(document["PolicyDocument"]["Statement"])


def test_the_bucket_is_encrypted_with_public_access_blocked_and_acls_off(synth: Synth) -> None:
    _, bucket = bucket_of(synth)
    props = bucket["Properties"]

    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["BucketNamePrefix"] == payloads.name_prefix(synth.stack.service.app.name, synth.stack.service.stage)


def test_the_bucket_policy_denies_every_request_not_over_tls(synth: Synth) -> None:
    logical, _ = bucket_of(synth)
    (policy,) = [
        p for p in synth.resources("AWS::S3::BucketPolicy").values() if logical_id(p["Properties"]["Bucket"]) == logical
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    tls = [s for s in statements if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
    assert len(tls) == 1
    assert tls[0]["Effect"] == "Deny"
    assert tls[0]["Action"] == "s3:*"
    assert tls[0]["Principal"] == {"AWS": "*"}
    assert {str(render(r)) for r in tls[0]["Resource"]} == {f"<{logical}.Arn>", f"<{logical}.Arn>/*"}


def test_objects_expire_by_prefix_after_the_derived_lifetimes(synth: Synth) -> None:
    _, bucket = bucket_of(synth)
    rules = {rule["Id"]: rule for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    queued = limits.SQS_MAX_RETENTION_SECONDS + limits.DLQ_RETENTION_SECONDS

    # arguments due within SQS's 15 minutes: the delay, then 14 days in a task queue and 14 in its DLQ
    assert rules["ExpireArguments"]["Prefix"] == "args/"
    assert rules["ExpireArguments"]["ExpirationInDays"] == 29
    soon = payloads.ARGUMENTS_LIFETIME_SECONDS
    assert soon == limits.SQS_MAX_DELAY_SECONDS + queued
    # arguments due later: the longest eta (2 x 366 days), a day of Scheduler retries, then the same 28 days
    assert rules["ExpireDelayedArguments"]["Prefix"] == "args-delayed/"
    assert rules["ExpireDelayedArguments"]["ExpirationInDays"] == 2 * 366 + 1 + 14 + 14
    later = payloads.DELAYED_ARGUMENTS_LIFETIME_SECONDS
    assert later == limits.MAX_ETA_AHEAD_SECONDS + limits.SCHEDULER_EVENT_AGE_SECONDS + queued
    # results: the longest result TTL of the app's tasks (7 days by default)
    assert rules["ExpireResults"]["Prefix"] == "results/"
    expected = payloads.expiration_days(payloads.results_lifetime_seconds(synth.stack.service.app))
    assert rules["ExpireResults"]["ExpirationInDays"] == expected
    assert expected >= 7
    assert rules["AbortIncompleteUploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "Prefix" not in rules["AbortIncompleteUploads"]
    assert all(rule["Status"] == "Enabled" for rule in rules.values())


def test_a_lifecycle_rounds_up_to_whole_days_and_never_expires_an_object_early() -> None:
    assert payloads.expiration_days(86_400) == 1
    assert payloads.expiration_days(86_401) == 2
    assert payloads.expiration_days(1) == 1


def test_the_bucket_follows_the_removal_policy_and_no_custom_resource_empties_it(shop: Synth, tuned: Synth) -> None:
    _, kept = bucket_of(shop)
    _, destroyed = bucket_of(tuned)

    assert kept["DeletionPolicy"] == "RetainExceptOnCreate"
    assert destroyed["DeletionPolicy"] == "Delete"
    for synth in (shop, tuned):
        assert "Custom::S3AutoDeleteObjects" not in {r["Type"] for r in synth.json["Resources"].values()}


def test_each_principal_gets_only_the_prefixes_it_needs_and_no_one_deletes(shop: Synth) -> None:
    service = shop.stack.service
    logical, _ = bucket_of(shop)
    arn = f"<{logical}.Arn>"
    args, results, bucket = {f"{arn}/args/*", f"{arn}/args-delayed/*"}, f"{arn}/results/*", arn

    assert grants_of(managed_statements(shop, service.producer_policy), logical) == {
        "s3:PutObject": args,
        "s3:GetObject": {results},
        "s3:ListBucket": {bucket},
    }
    assert grants_of(role_statements(shop, service.worker.role), logical) == {
        "s3:GetObject": {*args, results},
        "s3:PutObject": {*args, results},
        "s3:ListBucket": {bucket},
    }
    assert grants_of(role_statements(shop, service.reconciler.role), logical) == {
        "s3:GetObject": args,
        "s3:ListBucket": {bucket},
    }
    operator = grants_of(managed_statements(shop, service.operator_policy), logical)
    assert operator == {"s3:GetObject": {*args, results}, "s3:PutObject": args, "s3:ListBucket": {bucket}}


def test_listing_is_confined_to_the_prefixes_read(shop: Synth) -> None:
    logical, _ = bucket_of(shop)
    listing = [
        s
        for s in managed_statements(shop, shop.stack.service.producer_policy)
        if s["Action"] == "s3:ListBucket" and str(render(s["Resource"])) == f"<{logical}.Arn>"
    ]
    assert [s["Condition"] for s in listing] == [{"StringLike": {"s3:prefix": ["results/*"]}}]


def test_the_settings_document_names_the_bucket(shop: Synth) -> None:
    logical, _ = bucket_of(shop)
    parameter = shop.resources("AWS::SSM::Parameter")[shop.logical_id_of(shop.stack.service.parameter)]
    document = json.loads(str(render(parameter["Properties"]["Value"])))
    assert document["payload_bucket"] == f"<{logical}>"
