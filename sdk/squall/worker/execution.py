"""The business step of the worker, for one SQS message: decode, claim, run, record.

Plain Python that knows nothing of Lambda event dicts: the handler adapts an SQS record into a
:class:`Delivery` and turns the :class:`Outcome` into "delete" or "keep". Every path ends in exactly one
outcome; a bad message is dead-lettered with its reason and acknowledged, never dropped and never allowed
to fail its neighbours.
"""

from __future__ import annotations

import base64
import traceback
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from squall import backoff, clock, codec, limits, signing
from squall.envelope import Envelope
from squall.errors import DecodeError, EncodeError, InvalidArguments, LeaseLost, TaskNotRegistered
from squall.schema import ErrorInfo, Progress
from squall.store import TaskStore
from squall.task import Request, Retry, Task, TaskContext

if TYPE_CHECKING:
    from squall.app import Squall
    from squall.config import Settings

#: A message seen more than this many seconds before its ETA is put back until then; within it, the
#: task runs (EventBridge Scheduler itself fires anywhere within the scheduled minute).
ETA_TOLERANCE_SECONDS = 60
#: Message attributes Squall adds to a dead-lettered message.
REASON_ATTRIBUTE = "squall.reason"
TASK_ID_ATTRIBUTE = "squall.task_id"
SOURCE_ATTRIBUTE = "squall.source"
RECEIVES_ATTRIBUTE = "squall.receive_count"


class Outcome(Enum):
    """How one delivery ended, and whether its message stays on the queue."""

    SUCCEEDED = "succeeded"  # ran and recorded SUCCESS: delete
    DUPLICATE = "duplicate"  # already finished (or revoked): delete without running
    DEAD = "dead"  # dead-lettered with its reason: delete from the source
    LEASE_LOST = "lease_lost"  # another attempt took the task over and owns its outcome: delete this copy
    RETRYING = "retrying"  # RETRY recorded, visibility set to the backoff: keep
    BUSY = "busy"  # another attempt holds a live claim: keep, back when that claim lapses
    EARLY = "early"  # arrived before its ETA: keep, back at the ETA

    @property
    def keeps_message(self) -> bool:
        """Whether the message must stay on the queue (reported as a batch item failure)."""
        return self in (Outcome.RETRYING, Outcome.BUSY, Outcome.EARLY)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One received SQS message, as the business step needs it."""

    message_id: str
    receipt_handle: str
    body: str
    queue_arn: str
    receive_count: int = 1
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)


class _ProgressBuffer:
    """Coalesces progress reports: the first writes at once, then at most one write per interval."""

    def __init__(self, store: TaskStore, task_id: str, token: str) -> None:
        self.store, self.task_id, self.token = store, task_id, token
        self.pending: Progress | None = None
        self.last_write: float | None = None

    def report(self, progress: Progress) -> None:
        now = clock.now()
        if self.last_write is None or now - self.last_write >= limits.PROGRESS_MIN_INTERVAL_SECONDS:
            self.store.progress(self.task_id, self.token, progress)
            self.last_write, self.pending = now, None
        else:
            self.pending = progress  # lands with the next write, at the latest the final one


def error_info(exc: BaseException) -> ErrorInfo:
    """An exception as strings: qualified type, message and (the end of) its traceback."""
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    trace = "".join(traceback.format_exception(exc))
    return ErrorInfo(name, str(exc)[: limits.MAX_ERROR_MESSAGE_CHARS], trace[-limits.MAX_TRACEBACK_CHARS :])


class Executor:
    """Runs deliveries of one app's tasks and records their outcome."""

    def __init__(self, app: Squall) -> None:
        self.app = app

    @property
    def settings(self) -> Settings:
        return self.app.settings

    def process(self, delivery: Delivery, remaining_seconds: float) -> Outcome:
        """Handle one delivery; ``remaining_seconds`` is how long this invocation may still run."""
        try:
            # With signing on, nothing but the signature header is read before the signature checks out.
            envelope = Envelope.decode(signing.opened(self.app, delivery.body))
        except DecodeError as exc:
            return self._reject(delivery, f"malformed message: {exc.reason}", "DecodeError", task_id=exc.task_id)
        try:
            task = self.app.get_task(envelope.task)
            task.bind_arguments(envelope.args, envelope.kwargs)
        except (TaskNotRegistered, InvalidArguments) as exc:
            return self._reject(delivery, str(exc), type(exc).__name__, envelope=envelope)
        now = clock.now()
        if envelope.eta is not None and envelope.eta - now > ETA_TOLERANCE_SECONDS:
            self._set_visibility(delivery, envelope, envelope.eta - now)
            return Outcome.EARLY
        options = task.options
        claim = self.app.store.claim(
            envelope.id,
            name=task.name,
            queue=envelope.queue,
            created=envelope.created,
            eta=envelope.eta,
            max_retries=options.max_retries,
            lease_seconds=remaining_seconds + limits.LEASE_SLACK_SECONDS,
            ttl_seconds=limits.DEAD_RECORD_TTL_SECONDS,
        )
        if claim.outcome == "finished":
            return Outcome.DUPLICATE
        if claim.outcome == "busy":
            lease_until = claim.current.lease_until if claim.current else None
            self._set_visibility(delivery, envelope, (lease_until or now) - now + 1)
            return Outcome.BUSY
        if claim.attempt > options.max_retries + 1:
            reason = (
                f"attempt {claim.attempt} exceeds max_retries={options.max_retries}: earlier attempts "
                "ended without recording an outcome (a crash or a timeout)"
            )
            return self._dead(delivery, envelope, reason, ErrorInfo("AttemptsExhausted", reason), claim.token)
        return self._run(delivery, envelope, task, claim.attempt, claim.token)

    def _run(self, delivery: Delivery, envelope: Envelope, task: Task[..., Any], attempt: int, token: str) -> Outcome:
        options = task.options
        buffer = _ProgressBuffer(self.app.store, envelope.id, token)
        try:
            if options.bind:
                request = Request(
                    envelope.id,
                    task.name,
                    attempt,
                    envelope.queue,
                    envelope.args,
                    envelope.kwargs,
                    envelope.eta,
                    delivery.receive_count,
                )
                value = task.fn(TaskContext(request, buffer.report), *envelope.args, **envelope.kwargs)
            else:
                value = task.fn(*envelope.args, **envelope.kwargs)
        except LeaseLost:
            return Outcome.LEASE_LOST
        except Retry as retry:
            limit = options.max_retries if retry.max_retries is None else retry.max_retries
            error = error_info(retry.exc) if retry.exc else ErrorInfo("Retry", "the task asked to be retried")
            if attempt > limit:
                reason = f"retries exhausted after {attempt} attempts (max_retries={limit}): {error.message}"
                return self._dead(delivery, envelope, reason, error, token)
            delay = retry.countdown if retry.countdown is not None else self._backoff(task, attempt)
            return self._retry(delivery, envelope, token, error, delay, buffer.pending)
        except Exception as exc:
            error = error_info(exc)
            if not options.should_retry(exc):
                reason = f"{error.type}: {error.message} (not retried: not in autoretry_for, or in dont_autoretry_for)"
                return self._dead(delivery, envelope, reason, error, token)
            if attempt > options.max_retries:
                reason = f"{error.type}: {error.message} (retries exhausted after {attempt} attempts)"
                return self._dead(delivery, envelope, reason, error, token)
            return self._retry(delivery, envelope, token, error, self._backoff(task, attempt), buffer.pending)
        return self._succeed(delivery, envelope, task, token, value, buffer.pending)

    def _succeed(
        self,
        delivery: Delivery,
        envelope: Envelope,
        task: Task[..., Any],
        token: str,
        value: Any,
        progress: Progress | None,
    ) -> Outcome:
        result_json = None
        if not task.options.ignore_result:
            try:
                result_json = codec.dumps(value, "result")
            except EncodeError as exc:
                reason = f"the task's return value cannot be stored: {exc}"
                return self._dead(delivery, envelope, reason, ErrorInfo("EncodeError", reason), token)
            if len(result_json.encode()) > limits.MAX_RESULT_BYTES:
                reason = (
                    f"the result is {len(result_json.encode()):,} bytes, over the {limits.MAX_RESULT_BYTES:,}"
                    " byte limit of a stored result; return a reference (an S3 key) instead"
                )
                return self._dead(delivery, envelope, reason, ErrorInfo("ResultTooLarge", reason), token)
        try:
            self.app.store.finish(
                envelope.id, token, result_json=result_json, progress=progress, ttl_seconds=task.options.result_ttl
            )
        except LeaseLost:
            return Outcome.LEASE_LOST
        return Outcome.SUCCEEDED

    def _backoff(self, task: Task[..., Any], attempt: int) -> float:
        options = task.options
        return backoff.retry_delay(
            attempt, base=options.retry_backoff, cap=options.retry_backoff_max, jitter=options.retry_jitter
        )

    def _retry(
        self,
        delivery: Delivery,
        envelope: Envelope,
        token: str,
        error: ErrorInfo,
        delay: float,
        progress: Progress | None,
    ) -> Outcome:
        delay = min(max(0.0, delay), float(limits.SQS_MAX_VISIBILITY_SECONDS))
        try:
            self.app.store.retry(
                envelope.id, token, error=error, next_attempt_at=clock.now() + delay, progress=progress
            )
        except LeaseLost:
            return Outcome.LEASE_LOST
        # The message stays; its visibility becomes the backoff, so SQS redelivers it then.
        self._set_visibility(delivery, envelope, delay)
        return Outcome.RETRYING

    def _reject(
        self,
        delivery: Delivery,
        reason: str,
        kind: str,
        *,
        task_id: str | None = None,
        envelope: Envelope | None = None,
    ) -> Outcome:
        """Dead-letter a message that cannot be run at all; it was never claimed."""
        # The reason can quote the message (a 300 KB keyword name): keep the DEAD item within DynamoDB's limit.
        reason = reason[: limits.MAX_ERROR_MESSAGE_CHARS]
        self._send_to_dlq(delivery, reason, envelope.id if envelope else task_id)
        task_id = envelope.id if envelope else task_id
        if task_id is not None:
            self.app.store.dead(
                task_id,
                reason=reason,
                error=ErrorInfo(kind, reason),
                ttl_seconds=limits.DEAD_RECORD_TTL_SECONDS,
                name=envelope.task if envelope else None,
                queue=envelope.queue if envelope else None,
                created=envelope.created if envelope else None,
            )
        return Outcome.DEAD

    def _dead(self, delivery: Delivery, envelope: Envelope, reason: str, error: ErrorInfo, token: str) -> Outcome:
        # DLQ first: if recording DEAD then fails, the message is retried, never lost.
        self._send_to_dlq(delivery, reason, envelope.id)
        try:
            self.app.store.dead(
                envelope.id, reason=reason, error=error, token=token, ttl_seconds=limits.DEAD_RECORD_TTL_SECONDS
            )
        except LeaseLost:
            return Outcome.LEASE_LOST
        return Outcome.DEAD

    def _queue_name(self, delivery: Delivery, envelope: Envelope | None) -> str:
        name = self.settings.queue_name_for_arn(delivery.queue_arn)
        if name is None:
            name = envelope.queue if envelope and envelope.queue in self.settings.queues else None
        if name is None:
            raise DecodeError(f"message from unknown queue {delivery.queue_arn}; it stays for the redrive policy")
        return name

    def _set_visibility(self, delivery: Delivery, envelope: Envelope, seconds: float) -> None:
        seconds = min(max(0, int(-(-seconds // 1))), limits.SQS_MAX_VISIBILITY_SECONDS)
        self.app.sqs.change_message_visibility(
            QueueUrl=self.settings.queue(self._queue_name(delivery, envelope)).url,
            ReceiptHandle=delivery.receipt_handle,
            VisibilityTimeout=seconds,
        )

    def _send_to_dlq(self, delivery: Delivery, reason: str, task_id: str | None) -> None:
        address = self.settings.queue(self._queue_name(delivery, None))
        ours = {
            REASON_ATTRIBUTE: reason[: limits.MAX_REASON_CHARS],
            SOURCE_ATTRIBUTE: address.arn,
            RECEIVES_ATTRIBUTE: str(delivery.receive_count),
        }
        if task_id is not None:
            ours[TASK_ID_ATTRIBUTE] = task_id
        candidates = [(k, {"DataType": "String", "StringValue": v}) for k, v in ours.items()]
        candidates += [(name, _attribute_for_send(value)) for name, value in delivery.attributes.items()]
        attributes = _fitting_attributes(delivery.body, candidates)
        self.app.sqs.send_message(QueueUrl=address.dlq_url, MessageBody=delivery.body, MessageAttributes=attributes)


def _fitting_attributes(body: str, candidates: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The candidate attributes, in order, that fit beside ``body`` in one SQS message.

    SQS counts each attribute's name, type and value toward the message size limit: a message that was
    at the limit on its source queue has no room for Squall's attributes, and a DLQ copy that SQS refuses
    would fail its record on every receive. Squall's reason is shortened to fit; others fit whole or not.
    """
    room = limits.SQS_MAX_MESSAGE_BYTES - len(body.encode("utf-8"))
    chosen: dict[str, Any] = {}
    for name, value in candidates:
        head = len(name.encode()) + len(value["DataType"].encode())
        data = value.get("BinaryValue") or value.get("StringValue", "").encode()
        if name == REASON_ATTRIBUTE and head + len(data) > room:
            data = data[: max(0, room - head)]  # a cut UTF-8 sequence is dropped by the decode below
            value = {**value, "StringValue": data.decode(errors="ignore")}
        if not data or name in chosen or len(chosen) >= limits.SQS_MAX_MESSAGE_ATTRIBUTES or head + len(data) > room:
            continue  # SQS refuses an empty value too
        chosen[name] = value
        room -= head + len(data)
    return chosen


def _attribute_for_send(value: dict[str, Any]) -> dict[str, Any]:
    """A Lambda-event message attribute (camelCase, binary as base64) in SendMessage's shape."""
    out: dict[str, Any] = {"DataType": value.get("dataType", "String")}
    if value.get("binaryValue") is not None:
        out["BinaryValue"] = base64.b64decode(value["binaryValue"])
    else:
        out["StringValue"] = value.get("stringValue") or ""
    return out
