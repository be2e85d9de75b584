"""Fixtures of the reliability and security tests: SQS's real message rules, an effects ledger, a killer.

They build on the core fixtures (``app``, ``tasks``, ``rt``) in ``tests/conftest.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from tests.reliability.faults import as_function_error

from squall.limits import SQS_MAX_MESSAGE_ATTRIBUTES, SQS_MAX_MESSAGE_BYTES
from squall.local import Runtime

#: Characters SQS accepts in a body or string attribute (XML 1.0); anything else is InvalidMessageContents.
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def message_size(body: str, attributes: dict[str, Any]) -> int:
    """Bytes SQS counts for a message: the body, and each attribute's name, data type and value."""
    size = len(body.encode("utf-8", "surrogatepass"))
    for name, value in attributes.items():
        raw = value.get("BinaryValue")
        data = raw if isinstance(raw, bytes) else str(value.get("StringValue", "")).encode("utf-8", "surrogatepass")
        size += len(name.encode()) + len(str(value["DataType"]).encode()) + len(data)
    return size


def sqs_refusal(body: str, attributes: dict[str, Any]) -> str | None:
    """Why real SQS would refuse this message (moto checks neither bytes nor characters), or None."""
    if not body:
        return "InvalidParameterValue: the message body must not be empty"
    size = message_size(body, attributes)
    if size > SQS_MAX_MESSAGE_BYTES:
        return f"InvalidParameterValue: message of {size} bytes with its attributes exceeds {SQS_MAX_MESSAGE_BYTES}"
    if len(attributes) > SQS_MAX_MESSAGE_ATTRIBUTES:
        return f"InvalidParameterValue: {len(attributes)} message attributes; at most {SQS_MAX_MESSAGE_ATTRIBUTES}"
    texts = [body, *(str(v.get("StringValue", "")) for v in attributes.values())]
    if any(_NOT_XML.search(text) for text in texts):
        return "InvalidMessageContents: characters outside the allowed set"
    if any(v.get("StringValue") == "" for v in attributes.values()):
        return "InvalidParameterValue: a message attribute has an empty value"
    return None


def enforce_sqs_rules(client: Any) -> None:
    """Make ``client``'s SendMessage and SendMessageBatch refuse what real SQS refuses, as it would."""

    def send(params: dict[str, Any], **_: Any) -> None:
        refusal = sqs_refusal(params["MessageBody"], params.get("MessageAttributes", {}))
        if refusal is not None:
            code, _, message = refusal.partition(": ")
            raise ClientError({"Error": {"Code": code, "Message": message}}, "SendMessage")

    def send_batch(params: dict[str, Any], **_: Any) -> None:
        for entry in params["Entries"]:
            send(entry)

    client.meta.events.register("provide-client-params.sqs.SendMessage", send)
    client.meta.events.register("provide-client-params.sqs.SendMessageBatch", send_batch)


@pytest.fixture
def strict_sqs(rt: Runtime) -> Callable[[], Any]:
    """SQS as strict as AWS on every client of the test: returns a factory of raw (foreign producer) clients."""
    enforce_sqs_rules(rt.app.sqs)

    def raw_client() -> Any:
        client = rt.session.client("sqs", region_name=rt.settings.region)
        enforce_sqs_rules(client)
        return client

    return raw_client


@dataclass
class Ledger:
    """An effects ledger: a task's effect is a conditional put keyed by its id; duplicates are refused.

    Its table is created on first use, inside whatever moto the test runs (so task fixtures may hold it).
    """

    table: str = "effects"
    refused: list[str] = field(default_factory=list)
    _client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("dynamodb", region_name="us-east-1")
            self._client.create_table(
                TableName=self.table,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        return self._client

    def apply(self, task_id: str) -> bool:
        """Apply ``task_id``'s effect; False (and counted) if it was applied before."""
        try:
            self.client.put_item(
                TableName=self.table, Item={"pk": {"S": task_id}}, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            self.refused.append(task_id)
            return False
        return True

    def applied(self) -> set[str]:
        """Every task id whose effect was applied."""
        return {item["pk"]["S"] for item in self.client.scan(TableName=self.table)["Items"]}


@pytest.fixture
def ledger() -> Ledger:
    """A fresh effects ledger (its table appears in the test's moto at first use)."""
    return Ledger()


@pytest.fixture
def deaths_fail_the_invocation(rt: Runtime) -> None:
    """A task body raising :class:`~tests.reliability.faults.Death` kills its whole invocation, as in Lambda."""
    for mapping in rt.mappings:
        inner = mapping.handler

        def handler(event: dict[str, Any], context: Any, inner: Any = inner) -> Any:
            with as_function_error():
                return inner(event, context)

        mapping.handler = handler
