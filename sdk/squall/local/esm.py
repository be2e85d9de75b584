"""An emulation of Lambda's SQS event source mapping, faithful to AWS's documented behaviour.

Receives up to the batch size, builds real-shaped SQS events, invokes the handler, then deletes exactly
the records not reported in ``batchItemFailures``. A raised error, or a response naming a null, empty or
unknown identifier, fails the whole batch (nothing deleted); a missing or empty list is full success.
(AWS Lambda Developer Guide, "Handling errors for an SQS event source in Lambda".)
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from squall import clock
from squall.limits import SQS_MAX_BATCH_ENTRIES

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from squall.config import QueueAddress
    from squall.topology import QueueResource

Handler = Callable[[dict[str, Any], Any], Any]


class FakeLambdaContext:
    """The parts of a Lambda context object that Powertools and Squall read; time from the clock."""

    def __init__(self, function_name: str, timeout: float, memory_mb: int, region: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = clock.now() + timeout

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the invocation's timeout."""
        return max(0, int((self._deadline - clock.now()) * 1000))


def to_event_record(message: MessageTypeDef, queue_arn: str, region: str) -> dict[str, Any]:
    """A ReceiveMessage result in the shape Lambda delivers it."""
    attributes: dict[str, Any] = {}
    for name, value in message.get("MessageAttributes", {}).items():
        binary = value.get("BinaryValue")
        attributes[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": None if binary is None else base64.b64encode(binary).decode("ascii"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def failed_identifiers(response: Any, message_ids: set[str]) -> set[str] | None:
    """The message ids to keep, per AWS's rules; None means the whole batch failed."""
    if response is None:
        return set()
    if not isinstance(response, dict):
        return None  # not a JSON object: an invalid response fails the batch
    failures = response.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return None  # e.g. a number or an object: an invalid response fails the batch
    keep = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in message_ids:
            return None
        keep.add(identifier)
    return keep


@dataclass
class Invocation:
    """What one emulated invocation received and how it ended."""

    queue: str
    message_ids: list[str]
    kept: set[str]
    error: BaseException | None = None


@dataclass
class EventSourceMapping:
    """Polls one queue and feeds the handler, as Lambda's event source mapping does."""

    resource: QueueResource
    address: QueueAddress
    sqs: Callable[[], SQSClient]
    handler: Handler
    region: str
    timeout: float
    memory_mb: int
    history: list[Invocation] = field(default_factory=list)

    def poll(self) -> int:
        """Run one invocation if any message is visible; return how many records it carried."""
        sqs = self.sqs()
        messages: list[MessageTypeDef] = []
        while len(messages) < self.resource.batch_size:
            response = sqs.receive_message(
                QueueUrl=self.address.url,
                MaxNumberOfMessages=min(SQS_MAX_BATCH_ENTRIES, self.resource.batch_size - len(messages)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            received = response.get("Messages", [])
            if not received:
                break
            messages.extend(received)
        if not messages:
            return 0
        event = {"Records": [to_event_record(m, self.address.arn, self.region) for m in messages]}
        context = FakeLambdaContext(f"squall-worker-{self.resource.name}", self.timeout, self.memory_mb, self.region)
        ids = {m["MessageId"] for m in messages}
        invocation = Invocation(self.resource.name, [m["MessageId"] for m in messages], set(ids))
        self.history.append(invocation)
        try:
            response = self.handler(event, context)
        except Exception as exc:
            invocation.error = exc
            return len(messages)
        keep = failed_identifiers(response, ids)
        invocation.kept = ids if keep is None else keep
        done = [m for m in messages if m["MessageId"] not in invocation.kept]
        for start in range(0, len(done), SQS_MAX_BATCH_ENTRIES):
            chunk = done[start : start + SQS_MAX_BATCH_ENTRIES]
            sqs.delete_message_batch(
                QueueUrl=self.address.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        return len(messages)
