"""What an extension declares it needs is in the template: its table and bucket, safe by default, and the
worker's grants on them exactly as declared (the local runtime's side: tests/test_extension_resources.py).

One synth for the module, of the app below, with the cdk-nag packs as ``infra/cdkw synth`` runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cdk_support import Synth, render, synthesize

from squall import ConfigurationError, Squall
from squall.tasks.extensions import Extension
from squall.tasks.resources import ExtensionBucket, ExtensionResource, ExtensionTable, TableKey


class Quota(Extension):
    """Counts runs per tenant in a table (read and write) and reads each tenant's limits from a bucket."""

    name = "quota"

    def resources(self) -> Sequence[ExtensionResource]:
        return (
            ExtensionTable(
                "quota-counts",
                partition_key=TableKey("tenant"),
                sort_key=TableKey("window", "N"),
                ttl_attribute="expires",
            ),
            ExtensionBucket("quota-limits", grants=("read",)),
        )


class Outbox(Extension):
    """Writes one object per finished task; never reads them back."""

    name = "outbox"

    def resources(self) -> Sequence[ExtensionResource]:
        return (ExtensionBucket("outbox", grants=("write",)),)


#: The app this module deploys (``squall:app`` names it).
app = Squall("extended", extensions=[Quota(), Outbox()])


@app.task(name="noop")
def noop() -> None: ...


HERE = Path(__file__).resolve()


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """This module's app with cdk.json's other context, synthesized once with the cdk-nag packs."""
    context = {"squall:app": f"{HERE.stem}:app", "squall:code": str(HERE)}
    return synthesize(tmp_path_factory.mktemp("cdk-extended"), context)


def _table(synth: Synth, name: str) -> dict[str, Any]:
    (table,) = (t for t in synth.resources("AWS::DynamoDB::Table").values() if t["Properties"]["TableName"] == name)
    return dict(table)


def _bucket(synth: Synth, name: str) -> tuple[str, dict[str, Any]]:
    construct = synth.stack.service.extension_resources.buckets[name]
    logical = synth.logical_id_of(construct)
    return logical, dict(synth.json["Resources"][logical])


def _worker_statements(synth: Synth) -> list[dict[str, Any]]:
    role = synth.logical_id_of(synth.stack.service.worker.role)
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_extension_table_has_the_declared_keys_and_ttl_on_demand_with_recovery(extended: Synth) -> None:
    table = _table(extended, "squall-extended-quota-counts")
    props = table["Properties"]

    assert props["KeySchema"] == [
        {"AttributeName": "tenant", "KeyType": "HASH"},
        {"AttributeName": "window", "KeyType": "RANGE"},
    ]
    assert props["AttributeDefinitions"] == [
        {"AttributeName": "tenant", "AttributeType": "S"},
        {"AttributeName": "window", "AttributeType": "N"},
    ]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    # Protected and kept like the task table (cdk.json's defaults).
    assert props["DeletionProtectionEnabled"] is True
    assert (
        table["DeletionPolicy"] == _table(extended, "squall-extended-tasks")["DeletionPolicy"] == "RetainExceptOnCreate"
    )


@pytest.mark.parametrize("name", ["quota-limits", "outbox"])
def test_each_extension_bucket_is_private_encrypted_versioned_logged_and_in_the_accounts_namespace(
    extended: Synth, name: str
) -> None:
    _, bucket = _bucket(extended, name)
    props = bucket["Properties"]

    assert props["BucketNamespace"] == "account-regional"
    assert props["BucketNamePrefix"] == f"squall-extended-{name}"
    assert "BucketName" not in props
    assert props["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    logs = extended.logical_id_of(extended.stack.service.extension_resources.access_logs)  # type: ignore[arg-type]
    assert props["LoggingConfiguration"] == {"DestinationBucketName": {"Ref": logs}, "LogFilePrefix": f"{name}/"}
    assert bucket["DeletionPolicy"] == "RetainExceptOnCreate"


def test_every_bucket_refuses_requests_without_tls(extended: Synth) -> None:
    resources = extended.stack.service.extension_resources
    buckets = [*resources.buckets.values(), resources.access_logs]
    policies = {logical_id: p["Properties"] for logical_id, p in extended.resources("AWS::S3::BucketPolicy").items()}
    for bucket in buckets:
        bucket_id = extended.logical_id_of(bucket)  # type: ignore[arg-type]
        (policy,) = (p for p in policies.values() if p["Bucket"] == {"Ref": bucket_id})
        denials = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert {"Bool": {"aws:SecureTransport": "false"}} in [s["Condition"] for s in denials], bucket_id


def test_the_worker_is_granted_exactly_what_each_extension_declares(extended: Synth) -> None:
    statements = {s["Sid"]: s for s in _worker_statements(extended) if s.get("Sid", "").startswith("Extension")}
    table_id = extended.logical_id_of(extended.stack.service.extension_resources.tables["quota-counts"])
    limits_id, _ = _bucket(extended, "quota-limits")
    outbox_id, _ = _bucket(extended, "outbox")

    granted = {sid: (s["Action"], render(s["Resource"])) for sid, s in statements.items()}
    assert granted == {
        "ExtensionTableQuotaCounts": (
            [
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchWriteItem",
            ],
            f"<{table_id}.Arn>",
        ),
        "ExtensionBucketQuotaLimitsObjects": ("s3:GetObject", f"<{limits_id}.Arn>/*"),
        "ExtensionBucketQuotaLimitsListing": ("s3:ListBucket", f"<{limits_id}.Arn>"),
        "ExtensionBucketOutboxObjects": (["s3:PutObject", "s3:DeleteObject"], f"<{outbox_id}.Arn>/*"),
    }


def test_no_other_role_or_policy_reaches_the_extension_resources(extended: Synth) -> None:
    resources = extended.stack.service.extension_resources
    ids = [extended.logical_id_of(c) for c in (*resources.tables.values(), *resources.buckets.values())]
    worker_policy = extended.logical_id_of(extended.stack.service.worker.role.node.find_child("DefaultPolicy"))
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for logical_id, policy in extended.resources(kind).items():
            if logical_id != worker_policy:
                assert not any(i in str(policy["Properties"]["PolicyDocument"]) for i in ids), logical_id


def test_the_outputs_name_each_extension_resource(extended: Synth) -> None:
    outputs = extended.json["Outputs"]
    table_id = extended.logical_id_of(extended.stack.service.extension_resources.tables["quota-counts"])

    assert render(outputs["ExtensionTablequotacounts"]["Value"]) == f"<{table_id}>"
    assert {k for k in outputs if k.startswith("ExtensionBucket")} == {
        "ExtensionBucketquotalimits",
        "ExtensionBucketoutbox",
    }


def test_a_bad_declaration_is_refused_at_synth_in_one_line(tmp_path: Path) -> None:
    import aws_cdk as cdk

    from squall.cdk.options import DeployOptions
    from squall.cdk.stack import SquallStack

    class Careless(Extension):
        name = "careless"

        def resources(self) -> Sequence[ExtensionResource]:
            return (ExtensionBucket("Uploads.v2"),)

    careless = Squall("careless", extensions=[Careless()])
    with pytest.raises(ConfigurationError) as caught:
        SquallStack(cdk.App(outdir=str(tmp_path)), "c", app=careless, options=DeployOptions(app_spec="careless:app"))

    assert str(caught.value).startswith("extension 'careless': bucket name 'Uploads.v2': use lowercase letters")
    assert "\n" not in str(caught.value)
