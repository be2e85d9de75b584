"""Sending what a ``POST /v1/tasks`` or ``POST /v1/batches`` body asks for, through the app's own producer.

A registered task goes exactly as ``app.send_task`` sends it (its arguments checked against its signature); an
HTTP target as ``app.send_http`` sends it (a signature of ``app.http``, its target checked). Each tracked task
sent through the API is then noted PENDING in the task table (one conditional write, which changes nothing if
the worker got there first), so that ``GET /v1/tasks/{id}`` tells a task still queued (200 PENDING) from an id
never sent (404).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from squall import limits
from squall.api.payloads import Call, TargetCall, TaskCall, target_request
from squall.errors import (
    ApiRequestError,
    EncodeError,
    InvalidArguments,
    InvalidTaskId,
    MessageTooLarge,
)
from squall.sending import dispatch, producer
from squall.states import State
from squall.targets import TASK_NAME as HTTP_TASK
from squall.wire import codec

if TYPE_CHECKING:
    from squall.app import Squall
    from squall.tasks.signature import Signature


@dataclass(frozen=True, slots=True)
class Sent:
    """A call sent: its task id and the state it is in (PENDING, unless its id had already run)."""

    id: str
    state: State


def refusal(exc: Exception) -> ApiRequestError:
    """The API's answer to an error the SDK raised about what was asked (400, or 413 for an oversized task)."""
    if isinstance(exc, MessageTooLarge):
        return ApiRequestError(str(exc), status=413)
    return ApiRequestError(str(exc))


#: The SDK's errors that say the request itself was wrong (a 400), not that sending failed.
BAD_INPUT: tuple[type[Exception], ...] = (InvalidArguments, EncodeError, InvalidTaskId, MessageTooLarge, ValueError)


def refuse_http_task_by_name(name: object, where: str = "the body") -> None:
    """The built-in HTTP-target task is sent only in the target form, so that its target is checked when it is sent
    (as ``app.send_http`` checks it), whatever was sent before."""
    if name == HTTP_TASK:
        raise ApiRequestError(
            f'{where}: send an HTTP target as {{"target": "<url>", "payload": ...}}, not as task {HTTP_TASK!r}'
        )


def prepare_task(app: Squall, call: TaskCall) -> producer.Outgoing:
    """Check and encode a registered task's call; ApiRequestError (400) names an unknown task or bad arguments."""
    refuse_http_task_by_name(call.task)
    if call.task not in app.tasks:
        known = ", ".join(sorted(app.tasks)) or "none"
        raise ApiRequestError(f"unknown task {call.task!r}: send one of the app's registered tasks ({known})")
    try:
        return producer.prepare_named(
            app,
            call.task,
            call.args,
            call.kwargs,
            task_id=call.task_id,
            queue=call.queue,
            countdown=call.when.countdown,
            eta=call.when.eta,
            max_retries=call.max_retries,
        )
    except BAD_INPUT as exc:
        raise refusal(exc) from None


def target_signature(app: Squall, call: TargetCall) -> Signature[Any]:
    """The HTTP-target call's signature (``app.http``); a refused target is a 400 that says why."""
    request: dict[str, Any] = {"method": call.method, "headers": call.headers or None}
    if call.timeout is not None:
        request["timeout"] = call.timeout
    try:
        return app.http(call.target, call.payload, **request)
    except BAD_INPUT as exc:
        raise refusal(exc) from None


def prepare_target(app: Squall, call: TargetCall) -> producer.Outgoing:
    """Check and encode an HTTP-target call (``app.http``); a refused target is a 400 that says why."""
    signature = target_signature(app, call)
    try:
        return producer.prepare(
            signature,
            task_id=call.task_id,
            countdown=call.when.countdown,
            eta=call.when.eta,
            max_retries=call.max_retries,
        )
    except BAD_INPUT as exc:
        raise refusal(exc) from None


#: What a target step of a workflow may hold: its request, and its own callbacks.
_TARGET_STEP_FIELDS = frozenset({"target", "payload", "method", "headers", "timeout", "link", "link_error"})


def with_target_steps(app: Squall, doc: Any, where: str = "workflow", depth: int = 0) -> Any:
    """``doc`` (a workflow document) with each target step, ``{"target": url, "payload", ...}`` as ``POST /v1/tasks``
    takes it, replaced by the document of its HTTP-target signature; the rest is left to ``node_from_doc``."""
    if not isinstance(doc, dict) or depth > codec.MAX_DEPTH:
        return doc  # node_from_doc says what is wrong with it
    for kind in ("chain", "group"):
        if kind in doc and isinstance(doc[kind], list):
            steps = doc[kind]
            return {
                **doc,
                kind: [
                    with_target_steps(app, s, f"{where} {kind} step {i + 1}", depth + 1) for i, s in enumerate(steps)
                ],
            }
    if "chord" in doc:
        header = with_target_steps(app, doc["chord"], f"{where} chord header", depth + 1)
        return {
            **doc,
            "chord": header,
            "body": with_target_steps(app, doc.get("body"), f"{where} chord body", depth + 1),
        }
    out = dict(doc)
    refuse_http_task_by_name(doc.get("task"), where)
    if "target" in doc:
        unknown = sorted(set(doc) - _TARGET_STEP_FIELDS)
        if unknown:
            allowed = ", ".join(sorted(_TARGET_STEP_FIELDS))
            raise ApiRequestError(
                f"{where}: unknown field(s) {', '.join(unknown)} in a target step; allowed: {allowed}"
            )
        out = target_signature(app, target_request(doc, where)).to_dict()
    for kind in ("link", "link_error"):
        if kind in doc:
            given = doc[kind] if isinstance(doc[kind], list) else [doc[kind]]
            out[kind] = [with_target_steps(app, c, f"{where} {kind} {i + 1}", depth + 1) for i, c in enumerate(given)]
    return out


def prepare_call(app: Squall, call: Call) -> producer.Outgoing:
    """Check and encode one call of either form; nothing is sent."""
    return prepare_task(app, call) if isinstance(call, TaskCall) else prepare_target(app, call)


def send_call(app: Squall, call: Call) -> Sent:
    """Send one call; ApiRequestError for bad input, EnqueueError (a 503) when SQS refused it."""
    message = prepare_call(app, call)
    dispatch.send_one(app, message)
    return note_pending(app, message)


def send_calls(app: Squall, calls: Sequence[Call]) -> list[Sent]:
    """Send a batch: every call checked before any goes, then 10 per SendMessageBatch request."""
    messages = [prepare_call(app, call) for call in calls]
    dispatch.send_many(app, messages)
    return [note_pending(app, message) for message in messages]


def note_pending(app: Squall, message: producer.Outgoing) -> Sent:
    """Record a sent task PENDING unless its id is known already; the state it is in."""
    envelope = message.envelope
    task = app.tasks.get(envelope.task)
    if task is not None and not task.options.track:
        return Sent(envelope.id, State.PENDING)  # it keeps no record: GET answers 404 for it
    current = app.store.hold(
        envelope.id,
        name=envelope.task,
        queue=envelope.queue,
        created=envelope.created,
        eta=envelope.eta if envelope.eta is not None else envelope.created,
        ttl_seconds=limits.DEAD_RECORD_TTL_SECONDS,
    )
    return Sent(envelope.id, State.PENDING if current is None else current.state)
