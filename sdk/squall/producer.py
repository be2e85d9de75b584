"""Sending tasks: envelopes to SQS (SendMessage / SendMessageBatch), each failure reported per task."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from squall import clock
from squall.envelope import Envelope, check_task_id
from squall.errors import EnqueueError, InvalidSchedule, MessageTooLarge
from squall.limits import (
    SQS_MAX_BATCH_BYTES,
    SQS_MAX_BATCH_ENTRIES,
    SQS_MAX_DELAY_SECONDS,
    SQS_MAX_MESSAGE_BYTES,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from squall.task import Signature

#: Times a batch entry that failed through no fault of the sender (SenderFault false) is sent again.
SERVER_FAULT_RESENDS = 3


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An encoded task ready to send: its envelope, JSON body, and delay in whole seconds.

    A delay over SQS's 900 s cannot go to SQS: :func:`squall.delays.send_later` sends it.
    """

    envelope: Envelope
    body: str
    delay_seconds: int

    @property
    def size(self) -> int:
        """Bytes SQS counts for this message."""
        return len(self.body.encode("utf-8"))


def delay_from(countdown: float | None, eta: dt.datetime | None, now: float) -> tuple[float | None, int]:
    """Return (eta as epoch seconds or None, whole seconds to wait) for a countdown or an eta."""
    if countdown is not None and eta is not None:
        raise InvalidSchedule("give countdown or eta, not both")
    if eta is not None:
        if eta.tzinfo is None:
            raise InvalidSchedule(
                f"eta {eta.isoformat()} has no time zone; pass an aware datetime, e.g. datetime.now(UTC)"
            )
        when = eta.timestamp()
    elif countdown is not None:
        if not math.isfinite(countdown) or countdown < 0:  # NaN and infinity compare False with everything
            raise InvalidSchedule(f"countdown must be a finite number >= 0 seconds, got {countdown}")
        when = now + countdown
    else:
        return None, 0
    # An ETA in the past runs now; SQS delays are whole seconds, so round up to never start early.
    wait = max(0.0, when - now)
    return when, int(-(-wait // 1))


def prepare(
    signature: Signature[Any],
    *,
    task_id: str | None,
    queue: str | None,
    countdown: float | None,
    eta: dt.datetime | None,
) -> Outgoing:
    """Check, encode and size one task for sending; raises before anything is sent."""
    task = signature.task
    task.bind_arguments(signature.args, signature.kwargs)
    now = clock.now()
    when, wait = delay_from(countdown, eta, now)
    # A wait past SQS_MAX_DELAY_SECONDS is kept as is: the app sends it through EventBridge Scheduler.
    envelope = Envelope(
        id=str(uuid.uuid4()) if task_id is None else check_task_id(task_id),
        task=task.name,
        args=signature.args,
        kwargs=signature.kwargs,
        queue=queue or task.options.queue,
        created=now,
        eta=when,
    )
    body = envelope.encode(arg_names=task.positional_names(len(signature.args)))
    signer = task.app.signer
    if signer is not None:
        body = signer.sign(body)
    outgoing = Outgoing(envelope, body, wait)
    if outgoing.size > SQS_MAX_MESSAGE_BYTES:
        raise MessageTooLarge(task.name, outgoing.size, SQS_MAX_MESSAGE_BYTES)
    return outgoing


def send_one(sqs: SQSClient, url: str, message: Outgoing) -> None:
    """Send one message; any error propagates (the caller may resend with the same task id)."""
    if message.delay_seconds > SQS_MAX_DELAY_SECONDS:
        raise InvalidSchedule(
            f"a delay of {message.delay_seconds} s is longer than SQS's {SQS_MAX_DELAY_SECONDS} s; "
            "send it with app.send, which uses EventBridge Scheduler"
        )
    sqs.send_message(QueueUrl=url, MessageBody=message.body, DelaySeconds=message.delay_seconds)


def chunks(messages: Sequence[Outgoing]) -> list[list[Outgoing]]:
    """Split messages into SendMessageBatch calls: at most 10 entries and 1 MiB each."""
    batches: list[list[Outgoing]] = []
    current: list[Outgoing] = []
    size = 0
    for message in messages:
        if current and (len(current) == SQS_MAX_BATCH_ENTRIES or size + message.size > SQS_MAX_BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(message)
        size += message.size
    if current:
        batches.append(current)
    return batches


def send_many(sqs_for: Callable[[], SQSClient], url: str, messages: Sequence[Outgoing]) -> list[str]:
    """Send messages to one queue in batches; return the ids sent, raise EnqueueError for the rest.

    Entries that fail with ``SenderFault`` false (a service-side fault) are sent again a few times;
    entries the sender got wrong are not. A batch call that errors entirely fails all its entries.
    """
    sent: list[str] = []
    failed: dict[str, str] = {}
    for batch in chunks(messages):
        pending = {str(i): m for i, m in enumerate(batch)}
        why: dict[str, str] = {}
        for _ in range(1 + SERVER_FAULT_RESENDS):
            try:
                response = sqs_for().send_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": key, "MessageBody": m.body, "DelaySeconds": m.delay_seconds}
                        for key, m in pending.items()
                    ],
                )
            except Exception as exc:
                why = {key: f"{type(exc).__name__}: {exc} (it may have been sent)" for key in pending}
                break
            sent.extend(pending[ok["Id"]].envelope.id for ok in response.get("Successful", []))
            why = {
                fault["Id"]: f"{fault.get('Code')}: {fault.get('Message', '')}".strip()
                for fault in response.get("Failed", [])
            }
            faulty = {fault["Id"] for fault in response.get("Failed", []) if fault.get("SenderFault")}
            failed.update({pending[key].envelope.id: why[key] for key in faulty})
            pending = {key: pending[key] for key in why if key not in faulty}
            if not pending:
                break
        failed.update({m.envelope.id: why.get(key, "not sent") for key, m in pending.items()})
    if failed:
        raise EnqueueError(failed, sent)
    return sent
