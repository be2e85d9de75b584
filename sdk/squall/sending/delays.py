"""Delays past SQS's 900 s through one-time EventBridge Scheduler schedules, and cancelling tasks.

A task due more than 900 s from now is recorded PENDING with its ETA and carried by a one-time
``at()`` schedule named after its id (``t.<id>``, or ``t-<sha256>``), which deletes itself after firing.
:func:`mark_revoked` marks a task that has not started REVOKED, saying when the id had no record (a task queued
but not yet claimed and an id never sent look the same); :func:`delete_delay` deletes its schedule, and
:func:`scheduled_body` reads what the schedule would have sent (:mod:`squall.ops.revoking` puts the three together).
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from squall import limits
from squall.errors import EnqueueError, InvalidSchedule, MessageTooLarge
from squall.scheduler.scheduling import (
    DELAY_PREFIX,
    HASHED_DELAY_PREFIX,
    flexible_window,
    require_scheduler,
    target,
    valid_name,
)
from squall.states import State
from squall.tasks.lanes import lane_of
from squall.wire.envelope import check_task_id

if TYPE_CHECKING:
    from squall.protocols import App
    from squall.sending.producer import Outgoing


def long_delay_name(task_id: str) -> str:
    """The one-time schedule of a long-delayed task: ``t.<id>``, or ``t-<sha256>`` if the id does not fit."""
    if valid_name(task_id):
        return DELAY_PREFIX + task_id
    return HASHED_DELAY_PREFIX + hashlib.sha256(task_id.encode("utf-8")).hexdigest()[:48]


def at_expression(when: float) -> str:
    """``at(...)`` in UTC for epoch seconds ``when``, rounded up to the second so nothing starts early."""
    moment = datetime.fromtimestamp(math.ceil(when), UTC)
    return f"at({moment.strftime('%Y-%m-%dT%H:%M:%S')})"


def send_later(app: App, message: Outgoing) -> None:
    """Send a task due more than 900 s from now through a one-time ``at()`` schedule.

    The task is recorded PENDING with its ETA first (so its AsyncResult shows when it is due), unless the
    id is already known: a re-send of a task that ran or was revoked changes nothing. Creating a schedule
    that exists already (a retried call) counts as success. AWS errors become EnqueueError.
    """
    settings = app.settings
    require_scheduler(settings)
    envelope = message.envelope
    if envelope.eta is None:
        raise InvalidSchedule("send_later needs a task with an eta")
    if message.size > limits.SCHEDULER_MAX_INPUT_BYTES:
        raise MessageTooLarge(
            envelope.task, message.size, limits.SCHEDULER_MAX_INPUT_BYTES, service="EventBridge Scheduler"
        )
    request: dict[str, Any] = {
        "Name": long_delay_name(envelope.id),
        "GroupName": settings.schedule_group,
        "ScheduleExpression": at_expression(envelope.eta),
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": flexible_window(None),
        "ActionAfterCompletion": "DELETE",
        "Description": f"Squall task {envelope.task} id {envelope.id}"[:512],
        # The lane's queue, as an SQS send would. The Scheduler sets no MessageGroupId on a standard queue
        # (scheduling.target says why): the firing reaches a fair queue as a tenant of its own.
        "Target": target(settings, envelope.queue, message.body, lane=lane_of(envelope)),
    }
    task = app.tasks.get(envelope.task)
    try:
        if task is not None and not task.options.track:  # no record is kept: the schedule alone carries it
            app.scheduler.create_schedule(**request)
            return
        current = app.store.hold(
            envelope.id,
            name=envelope.task,
            queue=envelope.queue,
            created=envelope.created,
            eta=envelope.eta,
            ttl_seconds=limits.DEAD_RECORD_TTL_SECONDS,
        )
        if current is not None and current.state is not State.PENDING:
            return  # it already ran, runs, or was revoked: sending it again would be a duplicate
        app.scheduler.create_schedule(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConflictException":
            return  # made by an earlier call with the same task id
        raise EnqueueError({envelope.id: f"{type(exc).__name__}: {exc}"}) from exc


# --- cancellation ---------------------------------------------------------------------------------------


class RevokeOutcome(StrEnum):
    """What ``revoke`` did."""

    REVOKED = "REVOKED"  # the task will not run (revoked now, or earlier)
    #: No record of this id: it was marked REVOKED so that it will not run if it is still queued (a task sent
    #: but not yet claimed has no record); if it was never sent, a task sent later with this id will not run
    #: either, until the REVOKED record expires (14 days).
    UNKNOWN = "UNKNOWN"
    ALREADY_FINISHED = "ALREADY_FINISHED"  # it finished (SUCCESS or DEAD) before; nothing changed
    RUNNING = "RUNNING"  # an attempt is running and cannot be stopped; nothing changed


def scheduled_body(app: App, task_id: str) -> str | None:
    """The body a long-delayed task's one-time schedule will send (its Target.Input), or None if it has none."""
    settings = app.settings
    if not settings.schedule_group:
        return None
    try:
        doc = app.scheduler.get_schedule(Name=long_delay_name(task_id), GroupName=settings.schedule_group)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        return None  # the task was never long-delayed, or its schedule fired already
    body = doc.get("Target", {}).get("Input")
    return body if isinstance(body, str) else None


def mark_revoked(app: App, task_id: str) -> RevokeOutcome:
    """Mark a task that has not started REVOKED; what it was decides the outcome.

    Returns REVOKED, or UNKNOWN when the id had no record before: the REVOKED record is written anyway, since a
    task sent without a long delay has no record until a worker claims it, and only that record stops it. One
    read first tells the two apart (a revoke is a rare operator action). RUNNING and ALREADY_FINISHED change
    nothing.
    """
    check_task_id(task_id)
    known = app.store.get(task_id) is not None
    current = app.store.revoke(task_id, ttl_seconds=limits.DEAD_RECORD_TTL_SECONDS)
    if current is None:
        return RevokeOutcome.REVOKED if known else RevokeOutcome.UNKNOWN
    if current.state is State.REVOKED:
        return RevokeOutcome.REVOKED
    if current.state is State.STARTED:
        return RevokeOutcome.RUNNING
    return RevokeOutcome.ALREADY_FINISHED


def delete_delay(app: App, task_id: str) -> None:
    """Delete a long-delayed task's one-time schedule; none (never made, or fired) is not an error."""
    settings = app.settings
    if not settings.schedule_group:
        return
    try:
        app.scheduler.delete_schedule(Name=long_delay_name(task_id), GroupName=settings.schedule_group)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
