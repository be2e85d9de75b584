"""An emulation of Lambda's SQS event source mapping, faithful to AWS's documented behaviour.

Receives up to the batch size, builds real-shaped SQS events, invokes the handler, then deletes exactly
the records not reported in ``batchItemFailures``. A raised error, or a response naming a null, empty or
unknown identifier, fails the whole batch (nothing deleted); a missing or empty list is full success.
(AWS Lambda Developer Guide, "Handling errors for an SQS event source in Lambda".)

Also as on AWS: an invocation still running at the function timeout is stopped there (on the fake clock, a
sleep that reaches the deadline raises :class:`squall.clock.DeadlineReached`), deletes nothing, and its
batch comes back after the visibility timeout, with what it already wrote left written ("Configure Lambda
function timeout"); a throttled batch is received but never handled; ``MaximumConcurrency`` caps the
invocations running at once ("Configuring scaling behavior for SQS event source mappings").
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from squall import clock
from squall.limits import SQS_MAX_BATCH_ENTRIES

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from squall.config import QueueAddress
    from squall.deploy.topology import IntakeResource, QueueResource

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
        #: When Lambda stops the invocation, in epoch seconds.
        self.deadline = clock.now() + timeout

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the invocation's timeout."""
        return max(0, int((self.deadline - clock.now()) * 1000))


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
    #: Lambda stopped it at the function timeout (``error`` says where); nothing was deleted.
    timed_out: bool = False
    #: Lambda throttled it: the handler never ran and the batch stays in flight.
    throttled: bool = False
    #: When it started and ended, in epoch seconds on the runtime's clock (ended: None while it runs).
    started_at: float = 0.0
    ended_at: float | None = None


@dataclass
class EventSourceMapping:
    """Polls one queue and feeds the handler, as Lambda's event source mapping does.

    Concurrency: one :meth:`poll` is one round, in which the mapping starts ``concurrency`` invocations at
    once (1 unless a test scales it out; ``MaximumConcurrency``, the queue's ``max_concurrency``, caps it).
    For invocations that overlap in time, as Lambda's do, see :mod:`squall.local.concurrent`.
    Every batch of a round is received before any handler runs, so concurrent invocations never see each
    other's messages; the handlers then run one after another on the one clock, each with its own function
    timeout from its own start.
    """

    resource: QueueResource | IntakeResource
    address: QueueAddress
    sqs: Callable[[], SQSClient]
    handler: Handler
    region: str
    timeout: float
    memory_mb: int
    history: list[Invocation] = field(default_factory=list)
    #: Invocations one round starts at most, before MaximumConcurrency.
    concurrency: int = 1
    #: Batches still to be throttled (see :meth:`throttle`).
    throttles: int = 0
    #: Makes the handler of another execution environment (a concurrent run keeps one per invocation in
    #: flight, as Lambda does); None: every invocation uses ``handler``.
    new_handler: Callable[[], Handler] | None = None

    def throttle(self, invocations: int = 1) -> None:
        """Throttle the next ``invocations`` batches, as Lambda does when the function has no concurrency left.

        A throttled batch was received (it costs a receive toward the redrive policy's maxReceiveCount) and
        is never handed to the handler: it stays in flight and comes back after its visibility timeout
        (AWS Lambda Developer Guide, "Configuring scaling behavior for SQS event source mappings").
        """
        if invocations < 0:
            raise ValueError(f"throttle(invocations={invocations}): the number of batches cannot be negative")
        self.throttles += invocations

    @property
    def round_size(self) -> int:
        """Invocations one :meth:`poll` starts at most: ``concurrency``, capped by MaximumConcurrency."""
        cap = self.resource.max_concurrency
        return max(1, self.concurrency if cap is None else min(self.concurrency, cap))

    def poll(self) -> int:
        """Run one round of invocations while messages are visible; return how many records they received."""
        batches: list[list[MessageTypeDef]] = []
        while len(batches) < self.round_size:
            batch = self._receive()
            if not batch:
                break
            batches.append(batch)
            if len(batch) < self.resource.batch_size:
                break  # the queue had no more to give
        for batch in batches:
            self._invoke(batch)
        return sum(len(batch) for batch in batches)

    def _receive(self, most: int | None = None) -> list[MessageTypeDef]:
        """Receive up to ``most`` messages (default: the batch size), as the event source's poller does."""
        sqs = self.sqs()
        messages: list[MessageTypeDef] = []
        wanted = self.resource.batch_size if most is None else most
        while len(messages) < wanted:
            response = sqs.receive_message(
                QueueUrl=self.address.url,
                MaxNumberOfMessages=min(SQS_MAX_BATCH_ENTRIES, wanted - len(messages)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            received = response.get("Messages", [])
            if not received:
                break
            messages.extend(received)
        return messages

    def _invoke(self, messages: list[MessageTypeDef], handler: Handler | None = None) -> None:
        invocation = Invocation(self.resource.name, [m["MessageId"] for m in messages], set(), started_at=clock.now())
        self.history.append(invocation)
        try:
            self._run(invocation, messages, handler or self.handler)
        finally:
            invocation.ended_at = clock.now()

    def _run(self, invocation: Invocation, messages: list[MessageTypeDef], handler: Handler) -> None:
        ids = {m["MessageId"] for m in messages}
        invocation.kept = set(ids)
        if self.throttles:
            self.throttles -= 1
            invocation.throttled = True
            return
        event = {"Records": [to_event_record(m, self.address.arn, self.region) for m in messages]}
        context = FakeLambdaContext(f"squall-worker-{self.resource.name}", self.timeout, self.memory_mb, self.region)
        # On the fake clock, Lambda's timeout is a deadline: a sleep that reaches it stops the invocation
        # there. The wall clock needs nothing new.
        current = clock.current()
        fake = current if isinstance(current, clock.FakeClock) else None
        try:
            with fake.deadline(context.deadline) if fake is not None else nullcontext():
                response = handler(event, context)
        except clock.DeadlineReached as exc:
            invocation.error, invocation.timed_out = exc, True
            return
        except Exception as exc:
            invocation.error = exc
            return
        if fake is not None and fake.now() >= context.deadline:
            # The clock was moved past the timeout by other means: Lambda would have stopped it by then.
            invocation.error = clock.DeadlineReached(f"the handler returned after its deadline, {context.deadline:.3f}")
            invocation.timed_out = True
            return
        keep = failed_identifiers(response, ids)
        invocation.kept = ids if keep is None else keep
        done = [m for m in messages if m["MessageId"] not in invocation.kept]
        sqs = self.sqs()
        for start in range(0, len(done), SQS_MAX_BATCH_ENTRIES):
            chunk = done[start : start + SQS_MAX_BATCH_ENTRIES]
            sqs.delete_message_batch(
                QueueUrl=self.address.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
