"""Sending tasks: envelopes to SQS (SendMessage / SendMessageBatch), each failure reported per task."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from squall import clock
from squall.errors import EnqueueError, InvalidArguments, InvalidSchedule, MessageTooLarge
from squall.limits import (
    MAX_ETA_AHEAD_SECONDS,
    MAX_RETRIES_CEILING,
    SQS_MAX_BATCH_BYTES,
    SQS_MAX_BATCH_ENTRIES,
    SQS_MAX_DELAY_SECONDS,
    SQS_MAX_MESSAGE_BYTES,
)
from squall.tasks import flow, lanes
from squall.tasks.options import call_time_limits
from squall.tasks.signature import Signature
from squall.wire.bodies import chain_for
from squall.wire.envelope import Envelope, check_task_id, valid_task_name

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

    from squall.protocols import App
    from squall.tasks.task import Task

#: Times a batch entry that failed through no fault of the sender (SenderFault false) is sent again.
SERVER_FAULT_RESENDS = 3
#: Most SendMessageBatch calls one ``send_many`` has in flight at once (threads; boto3 clients are thread-safe).
#: A FIFO queue's batches go one after another, so that a message group keeps its order.
SEND_BATCH_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An encoded task ready to send: its envelope, JSON body, and delay in whole seconds.

    A delay over SQS's 900 s cannot go to SQS: :func:`squall.sending.delays.send_later` sends it.
    """

    envelope: Envelope
    body: str
    delay_seconds: int

    @property
    def group(self) -> dict[str, str]:
        """SendMessage's ``MessageGroupId`` for this message, when it has one (else nothing to add)."""
        return message_group(self.envelope)

    @property
    def size(self) -> int:
        """Bytes SQS counts for this message."""
        return len(self.body.encode("utf-8"))


def message_group(envelope: Envelope) -> dict[str, str]:
    """``{"MessageGroupId": ...}`` for an envelope with a message group id (a tenant, or a FIFO group), else {}."""
    group = envelope.options.get("message_group_id")
    return {"MessageGroupId": group} if isinstance(group, str) else {}


def queue_fields(url: str, message: Outgoing) -> dict[str, Any]:
    """SendMessage's delay and group fields for ``message`` on the queue at ``url``. On a FIFO queue: no
    DelaySeconds (SQS refuses per-message delays there), the task id as MessageDeduplicationId, and as the
    MessageGroupId when the call gave none (a group of its own: no order with other tasks)."""
    if not url.endswith(".fifo"):
        return {"DelaySeconds": message.delay_seconds, **message.group}
    ident = message.envelope.id
    return {"MessageGroupId": ident, **message.group, "MessageDeduplicationId": ident}


def refuse_fifo_delay(queue: Any, task: str, countdown: float | None, eta: dt.datetime | None) -> None:
    """InvalidSchedule for a countdown or eta sent to a FIFO queue (``queue``, its declaration, if any)."""
    if getattr(queue, "fifo", False) and (countdown or eta is not None):
        raise InvalidSchedule(
            f"task {task!r}: queue {queue.name!r} is FIFO, which takes no per-message delay (countdown/eta); "
            "a delay would reorder its message group. Send it when it is due (e.g. from a periodic schedule or "
            "a task on a standard queue), or use a standard queue"
        )


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
    if when - now > MAX_ETA_AHEAD_SECONDS:
        raise InvalidSchedule(
            f"the task would be due {(when - now) / 86400:,.0f} days from now, more than the "
            f"{MAX_ETA_AHEAD_SECONDS // 86400} days Squall accepts; give countdown in seconds (not milliseconds) "
            "or an eta closer than that"
        )
    # An ETA in the past runs now; SQS delays are whole seconds, so round up to never start early.
    wait = max(0.0, when - now)
    return when, int(-(-wait // 1))


def prepare(
    signature: Signature[Any],
    *,
    task_id: str | None = None,
    queue: str | None = None,
    countdown: float | None = None,
    eta: dt.datetime | None = None,
    max_retries: int | None = None,
    expires: float | dt.datetime | None = None,
    flow_key: str | None = None,
    priority: str | None = None,
    message_group_id: str | None = None,
    time_limit: float | None = None,
    soft_time_limit: float | None = None,
    workflow: Mapping[str, Any] | None = None,
) -> Outgoing:
    """Check, encode and size one task for sending; raises before anything is sent.

    ``max_retries`` overrides the task's retry budget for this call (it travels in the envelope). Options the
    signature carries (``task.s(...).set(countdown=...)``) apply where the call gives none. ``workflow`` holds the
    envelope options that carry a workflow on (:mod:`squall.tasks.canvas`).
    """
    given = signature.options
    task_id = given.get("task_id") if task_id is None else task_id
    queue = queue or given.get("queue")
    if countdown is None and eta is None:
        countdown, eta = given.get("countdown"), given.get("eta")
    max_retries = given.get("max_retries") if max_retries is None else max_retries
    expires = given.get("expires") if expires is None else expires
    flow_key = given.get("flow_key") if flow_key is None else flow_key
    priority = given.get("priority") if priority is None else priority
    message_group_id = given.get("message_group_id") if message_group_id is None else message_group_id
    time_limit = given.get("time_limit") if time_limit is None else time_limit
    soft_time_limit = given.get("soft_time_limit") if soft_time_limit is None else soft_time_limit
    task = signature.task
    if workflow and not task.options.track:
        raise InvalidArguments(
            f"task {task.name!r} is untracked (track=False): a workflow needs each step's record (results, "
            "counts); declare it with track=True to use it in a workflow"
        )
    body = (workflow or {}).get("chord_body")
    # A chord body is given its members' results first, by the worker that runs it.
    shape = (None, *signature.args) if body is not None and body.get("prepend", True) else signature.args
    task.bind_arguments(shape, signature.kwargs)
    declared = task.app.queues.get(queue or task.options.queue)
    refuse_fifo_delay(declared, task.name, countdown, eta)
    if getattr(declared, "fifo", False) and not task.options.track:
        raise InvalidArguments(
            f"task {task.name!r} is untracked (track=False), which a FIFO queue cannot retry in order (its attempt "
            "count lives in the message, which a FIFO retry keeps unchanged); declare it with track=True"
        )
    now = clock.now()
    when, wait = delay_from(countdown, eta, now)
    options = dict(workflow or {})
    options.update(
        flow.call_options(
            task,
            signature.args,
            signature.kwargs,
            now,
            expires=expires,
            flow_key=flow_key,
            message_group_id=message_group_id,
        )
    )
    options.update(lanes.call_options(task, queue or task.options.queue, priority))
    options.update(call_time_limits(task.name, time_limit, soft_time_limit))
    # A wait past SQS_MAX_DELAY_SECONDS is kept as is: the app sends it through EventBridge Scheduler.
    envelope = Envelope(
        id=str(uuid.uuid4()) if task_id is None else check_task_id(task_id),
        task=task.name,
        args=signature.args,
        kwargs=signature.kwargs,
        queue=queue or task.options.queue,
        created=now,
        eta=when,
        max_retries=check_max_retries(max_retries, task.name),
        options=options,
    )
    return Outgoing(envelope, encode_body(task, envelope), wait)


def prepare_named(
    app: App,
    name: str,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    task_id: str | None = None,
    queue: str | None = None,
    countdown: float | None = None,
    eta: dt.datetime | None = None,
    max_retries: int | None = None,
    **flow_options: Any,
) -> Outgoing:
    """A call of task ``name`` whose code this process may not have (Celery's ``send_task``, arq's by-name enqueue).

    A task the app registers is prepared as :func:`prepare` does, its arguments checked. Any other name goes
    unchecked, to ``queue`` or the app's default queue, and a worker without it dead-letters it with the reason.
    """
    if name in app.tasks:
        signature: Signature[Any] = Signature(name, tuple(args), dict(kwargs or {}), app=app)
        return prepare(
            signature,
            task_id=task_id,
            queue=queue,
            countdown=countdown,
            eta=eta,
            max_retries=max_retries,
            **flow_options,
        )
    if not valid_task_name(name):
        raise InvalidArguments(f"{name!r} is not a task name: use up to 256 ASCII letters, digits and _.:<>-")
    given = {key: value for key, value in flow_options.items() if value is not None}
    if given:
        raise InvalidArguments(
            f"task {name!r} is not registered in this process, so {', '.join(map(repr, sorted(given)))} cannot be "
            "applied to it; import the task's module (or send without these options)"
        )
    queue = queue or app.default_queue
    if queue not in app.queues:
        raise InvalidArguments(
            f"task {name!r}: queue {queue!r} is not one app {app.name!r} declares ({', '.join(app.queues)}); "
            "declare it on the app and deploy"
        )
    now = clock.now()
    refuse_fifo_delay(app.queues[queue], name, countdown, eta)
    when, wait = delay_from(countdown, eta, now)
    envelope = Envelope(
        id=str(uuid.uuid4()) if task_id is None else check_task_id(task_id),
        task=name,
        args=tuple(args),
        kwargs=dict(kwargs or {}),
        queue=queue,
        created=now,
        eta=when,
        max_retries=check_max_retries(max_retries, name),
    )
    body = chain_for(app).encode(envelope.encode())
    size = len(body.encode("utf-8"))
    if size > SQS_MAX_MESSAGE_BYTES:
        raise MessageTooLarge(name, size, SQS_MAX_MESSAGE_BYTES)
    return Outgoing(envelope, body, wait)


def check_max_retries(value: int | None, task_name: str) -> int | None:
    """A call-time retry budget, checked as a declared one is."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES_CEILING
    ):
        raise InvalidArguments(
            f"task {task_name!r}: max_retries={value!r} must be an int 0-{MAX_RETRIES_CEILING}, or None for the "
            "task's own"
        )
    return value


def encode_body(task: Task[..., Any], envelope: Envelope) -> str:
    """The message body of ``envelope``: its JSON through the app's body codecs; MessageTooLarge past SQS's limit.

    Signing is the outermost codec when the app signs (:mod:`squall.wire.bodies`); EncodeError names a codec
    that fails. The producer sends it, and the worker when it sends a task again (a retry).
    """
    body = chain_for(task.app).encode(envelope.encode(arg_names=task.positional_names(len(envelope.args))))
    size = len(body.encode("utf-8"))
    if size > SQS_MAX_MESSAGE_BYTES:
        raise MessageTooLarge(task.name, size, SQS_MAX_MESSAGE_BYTES)
    return body


def send_one(sqs: SQSClient, url: str, message: Outgoing) -> None:
    """Send one message; any error propagates (the caller may resend with the same task id)."""
    if message.delay_seconds > SQS_MAX_DELAY_SECONDS:
        raise InvalidSchedule(
            f"a delay of {message.delay_seconds} s is longer than SQS's {SQS_MAX_DELAY_SECONDS} s; "
            "send it with app.send, which uses EventBridge Scheduler"
        )
    sqs.send_message(QueueUrl=url, MessageBody=message.body, **queue_fields(url, message))


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


def entry(key: str, message: Outgoing, url: str = "") -> SendMessageBatchRequestEntryTypeDef:
    """One SendMessageBatch entry for ``message`` to the queue at ``url`` (its delay and group: queue_fields)."""
    item: SendMessageBatchRequestEntryTypeDef = {"Id": key, "MessageBody": message.body}
    item.update(queue_fields(url, message))  # type: ignore[typeddict-item]
    return item


def send_many(
    sqs_for: Callable[[], SQSClient],
    url: str,
    messages: Sequence[Outgoing],
    *,
    concurrency: int | None = None,
) -> list[str]:
    """Send messages to one queue in batches; return the ids sent, raise EnqueueError for the rest.

    Up to ``concurrency`` (default SEND_BATCH_CONCURRENCY) batches are in flight at once (one at a time on a FIFO
    queue); the ids sent
    keep the messages' order. Entries that fail with ``SenderFault`` false (a service-side fault) are sent again
    a few times; entries the sender got wrong are not. A batch call that errors entirely fails all its entries.
    """
    batches = chunks(messages)
    sqs = sqs_for()  # resolved once, in the caller's thread: the threads share the one client

    def send(batch: list[Outgoing]) -> tuple[list[str], dict[str, str]]:
        return send_chunk(sqs, url, batch)

    most = SEND_BATCH_CONCURRENCY if concurrency is None else concurrency
    threads = 1 if url.endswith(".fifo") else min(most, len(batches))
    if threads <= 1:
        outcomes = [send(batch) for batch in batches]
    else:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="squall-send") as pool:
            outcomes = list(pool.map(send, batches))  # map keeps the batches' order
    sent: list[str] = []
    failed: dict[str, str] = {}
    for ok, why in outcomes:
        sent.extend(ok)
        failed.update(why)
    if failed:
        raise EnqueueError(failed, sent)
    return sent


def send_chunk(sqs: SQSClient, url: str, batch: list[Outgoing]) -> tuple[list[str], dict[str, str]]:
    """One SendMessageBatch (and its resends of service-side faults): (ids sent, {id: why} for the rest)."""
    sent: list[str] = []
    failed: dict[str, str] = {}
    pending = {str(i): m for i, m in enumerate(batch)}
    why: dict[str, str] = {}
    for _ in range(1 + SERVER_FAULT_RESENDS):
        try:
            response = sqs.send_message_batch(QueueUrl=url, Entries=[entry(key, m, url) for key, m in pending.items()])
        except Exception as exc:  # the whole call failed: every entry is reported, with the error
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
    return sent, failed
