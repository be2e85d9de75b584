"""Every use of moto's internals, in one place (moto is pinned; re-check these on upgrade).

moto's SQS reads the time through ``unix_time``/``unix_time_millis`` imported into ``moto.sqs.models``;
pointing them at Squall's clock lets the local runtime fast-forward delays and visibility timeouts.
Peeking at a queue's messages (when the next one becomes visible, what a DLQ holds) reads the backend
directly, so that looking never changes receive counts or visibility.

Where moto differs from AWS in a way that would hide a bug, a correction below makes it behave as AWS
documents; :func:`as_on_aws` enters them all for the duration of ``local.run``. Each is a context manager
that replaces one or two moto methods and puts the originals back on exit. The one correction of moto's
DynamoDB lives in :mod:`squall.local.motoshim_dynamodb`; this module holds the rest of moto's internals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from squall import clock
from squall.limits import SQS_MAX_VISIBILITY_SECONDS
from squall.local.motoshim_dynamodb import update_item_is_all_or_nothing
from squall.local.motoshim_fifo import fifo_groups_unblock_when_visible
from squall.local.replacing import replaced

#: The account moto uses unless told otherwise.
ACCOUNT_ID = "123456789012"
#: The message system attribute naming the queue a redrive policy moved a message from.
DLQ_SOURCE_ATTRIBUTE = "DeadLetterQueueSourceArn"
#: Where the visibility-cap correction notes a moto message's latest receive, in epoch milliseconds.
_RECEIVED_AT = "squall_received_at_ms"


@contextmanager
def sqs_follows_squall_clock() -> Iterator[None]:
    """Make moto's SQS read the time from :func:`squall.clock.now` for the duration of the block."""
    from moto.sqs import models

    saved = models.unix_time, models.unix_time_millis  # type: ignore[attr-defined]

    def unix_time(dt: Any = None) -> float:
        return clock.now() if dt is None else float(saved[0](dt))

    def unix_time_millis(dt: Any = None) -> float:
        return clock.now() * 1000.0 if dt is None else float(saved[1](dt))

    models.unix_time, models.unix_time_millis = unix_time, unix_time_millis  # type: ignore[attr-defined]
    try:
        yield
    finally:
        models.unix_time, models.unix_time_millis = saved  # type: ignore[attr-defined]


@contextmanager
def scheduler_follows_squall_clock() -> Iterator[None]:
    """Make moto's EventBridge Scheduler stamp CreationDate and check StartDate on Squall's clock.

    ``moto.scheduler.models`` imports ``unix_time`` (creation and modification dates) and ``utcnow``
    (StartDate "no earlier than 5 minutes ago") from ``moto.core.utils``; the local scheduler anchors rate
    schedules on CreationDate, so it must be fake-clock time.
    """
    from datetime import UTC, datetime

    from moto.scheduler import models

    saved = models.unix_time, models.utcnow  # type: ignore[attr-defined]

    def unix_time(dt: Any = None) -> float:
        return clock.now() if dt is None else float(saved[0](dt))

    def utcnow() -> datetime:
        return datetime.fromtimestamp(clock.now(), UTC).replace(tzinfo=None)  # moto compares naive UTC

    models.unix_time, models.utcnow = unix_time, utcnow  # type: ignore[attr-defined]
    try:
        yield
    finally:
        models.unix_time, models.utcnow = saved  # type: ignore[attr-defined]


# --- corrections: moto made to behave as AWS documents ------------------------------------------------


def _now_ms() -> float:
    from moto.sqs import models

    return float(models.unix_time_millis())  # type: ignore[attr-defined]  # the clock moto's SQS reads


@contextmanager
def visibility_cap_counts_from_receive() -> Iterator[None]:
    """ChangeMessageVisibility's 12-hour cap counts from the message's latest receive; moto counts from the send.

    AWS (SQS Developer Guide, "Amazon SQS visibility timeout"; ChangeMessageVisibility API reference): a
    message's visibility may be extended to at most 12 hours from when it was *received*; a call that would
    go past that is refused with InvalidParameterValue. In ChangeMessageVisibilityBatch the refusal is that
    entry's, not the whole call's.
    """
    from moto.sqs import models
    from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid

    def mark_received(original: Any) -> Any:
        def patched(message: Any, visibility_timeout: int | None = None) -> None:
            original(message, visibility_timeout)
            setattr(message, _RECEIVED_AT, _now_ms())

        return patched

    def change_message_visibility(original: Any) -> Any:
        # moto's own, but measured from the latest receive instead of the send.
        def patched(backend: Any, queue_name: str, receipt_handle: str, visibility_timeout: int) -> None:
            queue = backend.get_queue(queue_name)
            for message in queue._messages:
                if message.had_receipt_handle(receipt_handle):
                    received = getattr(message, _RECEIVED_AT, message.sent_timestamp)
                    until = _now_ms() + int(visibility_timeout) * 1000
                    if until - received > SQS_MAX_VISIBILITY_SECONDS * 1000:
                        raise InvalidParameterValue(
                            f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                            f"VisibilityTimeout for the message is beyond the limit [{SQS_MAX_VISIBILITY_SECONDS} "
                            "seconds]"
                        )
                    message.change_visibility(visibility_timeout)
                    if message.visible and message in queue.pending_messages:
                        queue.pending_messages.remove(message)
                    return
            raise ReceiptHandleIsInvalid

        return patched

    def change_message_visibility_batch(original: Any) -> Any:
        def patched(backend: Any, queue_name: str, entries: list[dict[str, Any]]) -> tuple[list[str], list[Any]]:
            success: list[str] = []
            errors: list[dict[str, Any]] = []
            for entry in entries:
                try:
                    ok, failed = original(backend, queue_name, [entry])
                except InvalidParameterValue as exc:
                    ok, failed = [], [_entry_error(entry["Id"], "InvalidParameterValue", exc.message)]
                success += ok
                errors += failed
            return success, errors

        return patched

    with ExitStack() as stack:
        stack.enter_context(replaced(models.Message, "mark_received", mark_received))
        stack.enter_context(replaced(models.SQSBackend, "change_message_visibility", change_message_visibility))
        stack.enter_context(
            replaced(models.SQSBackend, "change_message_visibility_batch", change_message_visibility_batch)
        )
        yield


def _entry_error(entry_id: str, code: str, message: str) -> dict[str, Any]:
    return {"Id": entry_id, "SenderFault": True, "Code": code, "Message": message}


def _drop_expired(queue: Any) -> None:
    """Delete the messages held longer than the queue's MessageRetentionPeriod, counted from their send.

    A message a redrive policy moved keeps its send time (standard queues), so on a dead-letter queue it
    expires counted from its original enqueue at the source. Its receipt handles count as deleted, so that
    deleting it again succeeds, as deleting any deleted message does.
    """
    cutoff = _now_ms() - int(queue.message_retention_period) * 1000
    with queue._messages_lock:
        expired = [m for m in queue._messages if m.sent_timestamp is not None and m.sent_timestamp <= cutoff]
        if not expired:
            return
        gone = {id(m) for m in expired}
        queue._messages = [m for m in queue._messages if id(m) not in gone]
        for message in expired:
            queue.pending_messages.discard(message)
            queue.deleted_messages.update(h for h in message.all_receipt_handles if h is not None)


@contextmanager
def retention_deletes_messages() -> Iterator[None]:
    """Messages older than the queue's retention period are deleted, as on AWS; moto keeps them forever.

    AWS (SQS Developer Guide, "Amazon SQS message retention"; DeleteMessage API reference: "Amazon SQS
    automatically deletes messages left in a queue longer than the retention period"). moto instead marks an
    expired message received on every ReceiveMessage, returns nothing past it, and keeps counting it.
    """
    from moto.sqs import models, responses

    def receive_message(original: Any) -> Any:
        def patched(backend: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
            _drop_expired(backend.get_queue(queue_name))
            return original(backend, queue_name, *args, **kwargs)

        return patched

    def get_queue_attributes(original: Any) -> Any:
        # The request, not the backend method: moto's receive reads the retention through the latter.
        def patched(self: Any) -> Any:
            _drop_expired(self.sqs_backend.get_queue(self._get_queue_name()))
            return original(self)

        return patched

    with ExitStack() as stack:
        stack.enter_context(replaced(models.SQSBackend, "receive_message", receive_message))
        stack.enter_context(replaced(responses.SQSResponse, "get_queue_attributes", get_queue_attributes))
        yield


@contextmanager
def stale_receipt_handle_deletes_nothing() -> Iterator[None]:
    """DeleteMessage with an earlier receive's receipt handle succeeds and deletes nothing, as on AWS.

    AWS (DeleteMessage API reference): "If you use an old ReceiptHandle, the request will succeed, but the
    message might not be deleted"; the SQS Developer Guide says it will not be. moto deletes the message for
    any handle it ever had. DeleteMessageBatch goes through the same queue method.
    """
    from moto.sqs import models

    def delete_message(original: Any) -> Any:
        def patched(queue: Any, receipt_handle: str) -> None:
            held = queue._messages
            if any(m.receipt_handle != receipt_handle and m.had_receipt_handle(receipt_handle) for m in held):
                return  # a later receive holds the message now
            original(queue, receipt_handle)

        return patched

    with replaced(models.Queue, "delete_message", delete_message):
        yield


@contextmanager
def redrive_marks_dead_letter_source() -> Iterator[None]:
    """A message moved by a redrive policy carries ``DeadLetterQueueSourceArn``, as on AWS; moto sets nothing.

    AWS (ReceiveMessage API reference, MessageSystemAttributeNames: "DeadLetterQueueSourceArn - Returns the
    source queue ARN of a message moved to a dead-letter queue"); Lambda passes it on in an SQS record's
    ``attributes``. moto moves the message object itself, so it keeps its SentTimestamp, as a standard
    queue's message does on AWS.
    """
    from moto.sqs import models, responses

    def receive_message(original: Any) -> Any:
        def patched(backend: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
            queue = backend.get_queue(queue_name)
            held = list(queue._messages) if queue.dead_letter_queue is not None else []
            received = original(backend, queue_name, *args, **kwargs)
            if held:
                left = {id(m) for m in queue._messages}
                moved = {id(m) for m in queue.dead_letter_queue._messages}
                for message in held:
                    if id(message) not in left and id(message) in moved:
                        message.system_attributes[DLQ_SOURCE_ATTRIBUTE] = {
                            "DataType": "String",
                            "StringValue": queue.queue_arn,
                        }
            return received

        return patched

    def render(original: Any) -> Any:
        # moto renders a fixed list of system attributes; add ours where the request asked for it.
        def patched(self: Any) -> Any:
            result = original(self)
            asked = [*self._get_param("AttributeNames", []), *self._get_param("MessageSystemAttributeNames", [])]
            if "All" not in asked and DLQ_SOURCE_ATTRIBUTE not in asked:
                return result
            held = {m.id: m for m in self.sqs_backend.get_queue(self._get_queue_name())._messages}
            for rendered in result.result.get("Messages", []):
                message = held.get(rendered["MessageId"])
                source = message.system_attributes.get(DLQ_SOURCE_ATTRIBUTE) if message is not None else None
                if source is not None:
                    rendered.setdefault("Attributes", {})[DLQ_SOURCE_ATTRIBUTE] = source["StringValue"]
            return result

        return patched

    with ExitStack() as stack:
        stack.enter_context(replaced(models.SQSBackend, "receive_message", receive_message))
        stack.enter_context(replaced(responses.SQSResponse, "receive_message", render))
        yield


#: Every correction :func:`as_on_aws` enters, in order.
CORRECTIONS: tuple[Callable[[], Any], ...] = (
    visibility_cap_counts_from_receive,
    retention_deletes_messages,
    stale_receipt_handle_deletes_nothing,
    redrive_marks_dead_letter_source,
    fifo_groups_unblock_when_visible,
    update_item_is_all_or_nothing,
)


@contextmanager
def as_on_aws() -> Iterator[None]:
    """Within the block, moto's SQS and DynamoDB behave as AWS documents where the corrections above say."""
    with ExitStack() as stack:
        for correction in CORRECTIONS:
            stack.enter_context(correction())
        yield


# --- looking at queues without receiving -----------------------------------------------------------


def _queue(region: str, name: str) -> Any:
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[ACCOUNT_ID][region].queues[name]
    _drop_expired(queue)  # what AWS would have deleted is not there to see
    return queue


def next_visible_at(region: str, queue_name: str) -> float | None:
    """Epoch seconds when the earliest hidden message (delayed or in flight) becomes visible."""
    times = []
    for message in list(_queue(region, queue_name)._messages):
        if message.delayed or not message.visible:
            times.append(max(message.visible_at, message.delayed_until) / 1000.0)
    return min(times, default=None)


def message_count(region: str, queue_name: str) -> int:
    """Messages held by the queue in any state (visible, delayed or in flight)."""
    return len(_queue(region, queue_name)._messages)


@dataclass(frozen=True, slots=True)
class PeekedMessage:
    """A message as it sits in a queue: id, body, string attributes and receive count."""

    message_id: str
    body: str
    attributes: dict[str, str]
    receive_count: int


def peek(region: str, queue_name: str) -> list[PeekedMessage]:
    """Every message in the queue, without receiving it."""
    out = []
    for message in list(_queue(region, queue_name)._messages):
        attributes = {
            name: str(value.get("string_value", value.get("StringValue", "")))
            for name, value in (message.message_attributes or {}).items()
        }
        out.append(PeekedMessage(message.id, message.body, attributes, message.approximate_receive_count))
    return out
