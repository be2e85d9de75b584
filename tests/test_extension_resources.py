"""What an extension declares it needs (tables, buckets) is in the topology, and the local runtime creates it.

The CDK side (the same resources in the template, and the worker's grants) is in
tests/infra/test_cdk_extension_resources.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from squall import ConfigurationError, Squall, local
from squall.deploy.topology import bucket_name, describe, table_name
from squall.local.motoshim import ACCOUNT_ID
from squall.tasks.extensions import Extension, OutcomeEvent
from squall.tasks.resources import ExtensionBucket, ExtensionResource, ExtensionTable, TableKey


class Archive(Extension):
    """Keeps the result of each archived task that succeeds: the body in its bucket, an index item in its table."""

    name = "archive"
    task_options = {"archive": lambda value: None if isinstance(value, bool) else "must be True or False"}

    def resources(self) -> Sequence[ExtensionResource]:
        return (
            ExtensionTable(
                "archive-index",
                partition_key=TableKey("task"),
                sort_key=TableKey("id"),
                ttl_attribute="expires",
            ),
            ExtensionBucket("archive", grants=("write",)),
        )

    def after_outcome(self, event: OutcomeEvent) -> None:
        task, envelope = event.task, event.envelope
        if event.outcome != "succeeded" or task is None or envelope is None or not task.options.extra.get("archive"):
            return
        app = task.app
        key = f"{task.name}/{envelope.id}.json"
        app.client("s3").put_object(Bucket=bucket_name(app, "archive"), Key=key, Body=json.dumps(event.result))
        app.dynamodb.put_item(
            TableName=table_name(app, "archive-index"),
            Item={"task": {"S": task.name}, "id": {"S": envelope.id}, "key": {"S": key}},
        )


class Declares(Extension):
    """Declares whatever ``declare()`` returns, built when the topology asks (as an extension's resources() does)."""

    def __init__(self, name: str, declare: Callable[[], Sequence[Any]]) -> None:
        self.name = name
        self.declare = declare

    def resources(self) -> Sequence[ExtensionResource]:
        return tuple(self.declare())


@pytest.fixture
def archived() -> Squall:
    app = Squall("archived", extensions=[Archive()])

    @app.task(name="double", extra={"archive": True})
    def double(x: int) -> int:
        return x * 2

    @app.task(name="plain")
    def plain(x: int) -> int:
        return x

    return app


def test_the_topology_names_what_extensions_declare_and_keeps_their_grants(archived: Squall) -> None:
    topology = describe(archived)

    (table,) = topology.extension_tables
    assert (table.extension, table.table_name) == ("archive", "squall-archived-archive-index")
    assert table.declared.keys == (TableKey("task"), TableKey("id"))
    assert table.declared.grants == ("read", "write")
    (bucket,) = topology.extension_buckets
    assert (bucket.extension, bucket.name_prefix, bucket.declared.grants) == (
        "archive",
        "squall-archived-archive",
        ("write",),
    )
    assert bucket.bucket_name("111122223333", "eu-west-1") == "squall-archived-archive-111122223333-eu-west-1-an"


def test_an_app_without_extensions_declares_no_extension_resources(app: Squall) -> None:
    topology = describe(app)

    assert (topology.extension_tables, topology.extension_buckets) == ((), ())


def test_the_local_runtime_creates_the_table_and_the_bucket_an_extension_declares(archived: Squall) -> None:
    with local.run(archived) as rt:
        dynamodb = rt.session.client("dynamodb", region_name=rt.settings.region)
        s3 = rt.session.client("s3", region_name=rt.settings.region)

        table = dynamodb.describe_table(TableName="squall-archived-archive-index")["Table"]
        ttl = dynamodb.describe_time_to_live(TableName="squall-archived-archive-index")["TimeToLiveDescription"]
        buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]

    assert table["KeySchema"] == [
        {"AttributeName": "task", "KeyType": "HASH"},
        {"AttributeName": "id", "KeyType": "RANGE"},
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires")
    assert f"squall-archived-archive-{ACCOUNT_ID}-{rt.settings.region}-an" in buckets  # beside the payload bucket
    assert len(buckets) == 2


def test_an_extension_uses_its_table_and_bucket_from_a_task_the_worker_runs(archived: Squall) -> None:
    # Given an app whose extension archives the results of the tasks that ask for it
    double, plain = archived.get_task("double"), archived.get_task("plain")

    with local.run(archived) as rt:
        # When one task that asks and one that does not run on the worker
        kept, skipped = double.delay(21), plain.delay(5)
        rt.drain()

        # Then the archived one's result is in the extension's bucket, indexed in its table; the other is not
        dynamodb = rt.session.client("dynamodb", region_name=rt.settings.region)
        s3 = rt.session.client("s3", region_name=rt.settings.region)
        items = dynamodb.scan(TableName=table_name(archived, "archive-index"))["Items"]
        assert [(i["task"]["S"], i["id"]["S"]) for i in items] == [("double", kept.id)]
        body = s3.get_object(Bucket=bucket_name(archived, "archive"), Key=items[0]["key"]["S"])["Body"].read()
        assert json.loads(body) == 42
        listed = s3.list_objects_v2(Bucket=bucket_name(archived, "archive"))["Contents"]
        assert [o["Key"] for o in listed] == [f"double/{kept.id}.json"]
        assert skipped.get(timeout=0) == 5


@pytest.mark.parametrize(
    ("declare", "problem"),
    [
        pytest.param(
            lambda: [ExtensionBucket("Uploads")],
            "extension 'x': bucket name 'Uploads': use lowercase letters, digits and '-'",
            id="bucket-uppercase",
        ),
        pytest.param(
            lambda: [ExtensionTable("rate_limits", partition_key=TableKey("key"))],
            "extension 'x': table name 'rate_limits': use lowercase letters, digits and '-'",
            id="table-underscore",
        ),
        pytest.param(
            lambda: [ExtensionBucket("uploads-of-every-customer-ever")],
            "extension 'x' declares bucket 'uploads-of-every-customer-ever': its name "
            "squall-declaring-uploads-of-every-customer-ever-<account id>-<region>-an reaches 78 characters, "
            "over S3's 63: shorten the bucket name or the app name 'declaring'",
            id="bucket-too-long",
        ),
        pytest.param(
            lambda: [ExtensionTable("tasks", partition_key=TableKey("id"))],
            "extension 'x' declares table 'tasks': the app's own table is named 'squall-declaring-tasks'",
            id="table-named-like-the-task-table",
        ),
        pytest.param(
            lambda: [ExtensionTable("state", partition_key=TableKey("id")), ExtensionBucket("state")],
            "extension 'x' declares bucket 'state', a name extension 'x' declares already",
            id="one-name-twice",
        ),
        pytest.param(
            lambda: [ExtensionBucket("uploads", grants=("admin",))],  # type: ignore[arg-type]
            "extension 'x': bucket 'uploads': grants must be a tuple of one or both of 'read', 'write'",
            id="unknown-grant",
        ),
        pytest.param(
            lambda: [ExtensionBucket("uploads", grants=())],
            "grants must be a tuple of one or both of 'read', 'write', got ()",
            id="no-grant",
        ),
        pytest.param(
            lambda: [ExtensionTable("limits", partition_key=TableKey("key", "X"))],  # type: ignore[arg-type]
            "extension 'x': key 'key' has type 'X'; a DynamoDB key is one of S, N, B",
            id="key-type",
        ),
        pytest.param(
            lambda: [ExtensionTable("limits", partition_key=TableKey("k"), sort_key=TableKey("k"))],
            "its partition and sort keys are both 'k'",
            id="same-key-twice",
        ),
        pytest.param(
            lambda: [ExtensionTable("limits", partition_key=TableKey("k"), ttl_attribute="")],
            "attribute name '' must be 1-255 characters",
            id="empty-ttl-attribute",
        ),
        pytest.param(
            lambda: [{"bucket": "uploads"}],
            "extension 'x' declares {'bucket': 'uploads'}; declare ExtensionTable or ExtensionBucket",
            id="not-a-declaration",
        ),
    ],
)
def test_a_bad_declaration_is_refused_when_the_topology_is_described_in_one_line(
    declare: Callable[[], Sequence[Any]], problem: str
) -> None:
    app = Squall("declaring", extensions=[Declares("x", declare)])

    with pytest.raises(ConfigurationError) as caught:
        describe(app)

    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_two_extensions_declaring_one_name_are_refused_naming_both() -> None:
    first = Declares("first", lambda: [ExtensionBucket("shared")])
    second = Declares("second", lambda: [ExtensionTable("shared", partition_key=TableKey("id"))])

    with pytest.raises(
        ConfigurationError, match=r"extension 'second' declares table 'shared', a name extension 'first'"
    ):
        describe(Squall("declaring", extensions=[first, second]))


def test_the_local_runtime_refuses_a_bad_declaration_before_creating_anything() -> None:
    app = Squall("declaring", extensions=[Declares("x", lambda: [ExtensionBucket("Uploads")])])

    with pytest.raises(ConfigurationError, match="bucket name 'Uploads'"), local.run(app):
        pass


def test_a_name_no_extension_declares_is_refused_listing_the_declared_ones(archived: Squall) -> None:
    with pytest.raises(ConfigurationError, match=r"declares a table named 'archive'; declared: archive-index"):
        table_name(archived, "archive")
    with pytest.raises(ConfigurationError, match=r"declares a bucket named 'archive-index'; declared: archive$"):
        bucket_name(archived, "archive-index")
