"""Scheduling on EventBridge Scheduler: periodic tasks declared in code, and what every schedule shares.

What runs where:

* a delay of at most 900 s: SQS ``DelaySeconds`` (:mod:`squall.sending.producer`);
* a longer delay: a one-time ``at()`` schedule in the app's group carrying the envelope (:mod:`squall.sending.delays`);
* a periodic task: one recurring schedule per ``@app.periodic`` declaration, created by the CDK stack from
  :attr:`squall.deploy.topology.Topology.schedules`; dynamic schedules: :mod:`squall.scheduler.schedules`.

Names in the app's schedule group (at most 64 of ``[0-9a-zA-Z-_.]``, so user names have 62):

* ``p.<name>`` a periodic schedule, ``d.<name>`` a dynamic one;
* ``t.<task id>`` (or ``t-<sha256>`` when the id has other characters or is long) a long delay.

Every firing of ``p.<name>`` or ``d.<name>`` sends a task whose id is ``<schedule name>@<scheduled time>``,
e.g. ``p.digest@2026-11-23T09:00:00Z``: the Scheduler substitutes ``<aws.scheduler.scheduled-time>`` in the
Input (not ``execution-id``, which changes per attempt), so a retried invocation carries the same id and
the worker runs it once.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from squall import clock, limits
from squall.errors import (
    ConfigurationError,
    InvalidSchedule,
    MessageTooLarge,
)
from squall.scheduler import firings, schedule_expr
from squall.tasks.task import Task
from squall.wire import codec
from squall.wire.bodies import CodecChain
from squall.wire.envelope import Envelope

if TYPE_CHECKING:
    from squall.config import Settings

P = ParamSpec("P")
R = TypeVar("R")

#: The context attribute EventBridge Scheduler replaces with the firing's time, e.g. 2026-11-23T09:00:00Z.
SCHEDULED_TIME = limits.SCHEDULER_TIME_PLACEHOLDER
PERIODIC_PREFIX = "p."
DYNAMIC_PREFIX = "d."
DELAY_PREFIX = "t."
HASHED_DELAY_PREFIX = "t-"
#: Longest user-given schedule name: the service's 64 less the two-character prefix.
MAX_NAME_CHARS = limits.SCHEDULER_MAX_NAME_CHARS - len(PERIODIC_PREFIX)
_NAME = re.compile(r"[0-9A-Za-z_.-]+")


# --- checks shared by declared and dynamic schedules ---------------------------------------------------


def valid_name(name: object) -> bool:
    """Whether ``name`` fits after a two-character prefix in a schedule name."""
    return isinstance(name, str) and len(name) <= MAX_NAME_CHARS and _NAME.fullmatch(name) is not None


def check_name(name: object, what: str = "name") -> str:
    """Return ``name`` if it can name a schedule, else raise InvalidSchedule naming the argument."""
    if not isinstance(name, str) or not valid_name(name):
        raise InvalidSchedule(
            f"{what} {name!r} cannot name a schedule: give 1-{MAX_NAME_CHARS} letters, digits, '-', '_' or '.'"
        )
    return name


def check_timezone(timezone: str) -> str:
    """Return ``timezone`` if it is an IANA time zone name, else raise InvalidSchedule."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise InvalidSchedule(
            f"timezone {timezone!r} is not an IANA time zone name (e.g. 'UTC', 'Europe/Berlin')"
        ) from None
    return timezone


def check_expression(expression: str, *, recurring: bool) -> schedule_expr.ScheduleExpression:
    """Parse ``expression``; InvalidSchedule names the argument and the offending cron field."""
    try:
        parsed = schedule_expr.parse(expression)
    except InvalidSchedule as exc:
        raise InvalidSchedule(f"expression: {exc}") from None
    if recurring and parsed.kind == "at":
        raise InvalidSchedule(
            f"expression {expression!r}: a periodic schedule needs cron(...) or rate(...); "
            "for one run later, use apply_async(eta=...) or app.schedules.create(..., at=...)"
        )
    return parsed


def check_window(minutes: int | None) -> int | None:
    """Return a flexible window in minutes (None: off), or raise InvalidSchedule."""
    low, high = limits.SCHEDULER_MIN_WINDOW_MINUTES, limits.SCHEDULER_MAX_WINDOW_MINUTES
    if minutes is not None and (
        isinstance(minutes, bool) or not isinstance(minutes, int) or not low <= minutes <= high
    ):
        raise InvalidSchedule(f"flexible_window_minutes must be None (off) or an int {low}-{high}, got {minutes!r}")
    return minutes


def check_dates(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    """Return aware UTC start and end; InvalidSchedule names the argument that is naive or out of order."""
    for label, value in (("start", start), ("end", end)):
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            raise InvalidSchedule(f"{label} must be an aware datetime (e.g. datetime(..., tzinfo=UTC)), got {value!r}")
    start = None if start is None else start.astimezone(UTC)
    end = None if end is None else end.astimezone(UTC)
    if start is not None and end is not None and end <= start:
        raise InvalidSchedule(f"end {end.isoformat()} must be after start {start.isoformat()}")
    return start, end


def start_date_for(expression: str, start: datetime | None, now: datetime) -> datetime | None:
    """The StartDate to send now: the service refuses one more than 5 minutes past.

    A past start of a rate schedule moves forward by whole intervals (keeping its phase); a past start of
    any other schedule is dropped (it no longer changes anything).
    """
    if start is None or start >= now:
        return start
    rate = schedule_expr.parse(expression).rate
    if rate is None:
        return None
    return start + rate * math.ceil((now - start) / rate)


def require_scheduler(settings: Settings) -> None:
    """Raise ConfigurationError unless the settings name the schedule group, role and DLQ."""
    missing = [
        name
        for name, value in (
            ("schedule_group", settings.schedule_group),
            ("scheduler_role_arn", settings.scheduler_role_arn),
            ("scheduler_dlq_arn", settings.scheduler_dlq_arn),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError(
            f"app {settings.app!r} needs EventBridge Scheduler (delays over {limits.SQS_MAX_DELAY_SECONDS} s, "
            f"schedules) but its settings lack: {', '.join(missing)}. Redeploy the stack, or set them in Settings.",
            missing=missing,
        )


def preview_schedule(
    expression: str, timezone: str = "UTC", start: datetime | None = None, count: int = 5
) -> list[datetime]:
    """The next ``count`` times (aware UTC) ``expression`` fires after ``start`` (default: now), as AWS would.

    Cron fields are wall-clock time in ``timezone``: a time skipped by a daylight-saving change does not
    fire that day, a repeated one fires once. For a rate, ``start`` is taken as a fire time: a new rate
    schedule fires first at its StartDate (or on creation), then every interval.
    """
    moment = start if start is not None else datetime.fromtimestamp(clock.now(), UTC)
    return firings.preview(expression, timezone, moment, count)


# --- what a schedule sends ---------------------------------------------------------------------------------


def scheduled_time_text(when: datetime) -> str:
    """A time as EventBridge Scheduler writes ``<aws.scheduler.scheduled-time>``: 2026-11-23T09:00:00Z."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def firing_id(schedule_name: str, scheduled_time: str) -> str:
    """The task id of one firing: ``<schedule name>@<scheduled time>``."""
    return f"{schedule_name}@{scheduled_time}"


def envelope_template(
    schedule_name: str,
    task: Task[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    queue: str,
    options: Mapping[str, Any] | None = None,
) -> str:
    """The Input of a recurring schedule: an envelope whose id and ``created`` the Scheduler completes."""
    envelope = Envelope(
        id=firing_id(schedule_name, SCHEDULED_TIME),
        task=task.name,
        args=tuple(args),
        kwargs=dict(kwargs),
        queue=queue,
        options=dict(options or {}),
    )
    doc = json.loads(envelope.encode(arg_names=task.positional_names(len(args))))
    doc["created"] = SCHEDULED_TIME  # the envelope reads a Scheduler time as epoch seconds
    return _within_input_limit(task, codec.wire_text(json.dumps(doc, separators=(",", ":"), ensure_ascii=False)))


def encoded_input(bodies: CodecChain, task: Task[..., Any], template: str) -> str:
    """A recurring schedule's Input: ``template`` through the app's body codecs (signed if ``bodies`` signs)."""
    return _within_input_limit(task, bodies.encode_template(template))


def _within_input_limit(task: Task[..., Any], text: str) -> str:
    size = len(text.encode("utf-8"))
    if size > limits.SCHEDULER_MAX_INPUT_BYTES:
        raise MessageTooLarge(task.name, size, limits.SCHEDULER_MAX_INPUT_BYTES, service="EventBridge Scheduler")
    return text


def target(settings: Settings, queue: str, input: str, *, lane: str | None = None) -> dict[str, Any]:
    """A schedule's Target: the queue (or its ``lane``'s queue) as a templated SendMessage target, with Squall's
    retry policy and DLQ.

    ``queue`` may also name a lane as ``<queue>:<lane>`` (what the worker's re-sends name). No ``SqsParameters``:
    EventBridge Scheduler documents ``SqsParameters.MessageGroupId`` for FIFO targets only (API reference,
    "SqsParameters"), so a firing reaches a fair (standard) queue without the tenant's MessageGroupId, and SQS
    counts it as a tenant of its own; the envelope still carries ``message_group_id``, so the task's later
    messages (its retries) carry it again.
    """
    return {
        "Arn": settings.address(queue, lane).arn,
        "RoleArn": settings.scheduler_role_arn,
        "Input": input,
        "RetryPolicy": {
            "MaximumRetryAttempts": limits.SCHEDULER_RETRY_ATTEMPTS,
            "MaximumEventAgeInSeconds": limits.SCHEDULER_EVENT_AGE_SECONDS,
        },
        "DeadLetterConfig": {"Arn": settings.scheduler_dlq_arn},
    }


def flexible_window(minutes: int | None) -> dict[str, Any]:
    """A FlexibleTimeWindow: OFF, or FLEXIBLE within ``minutes``."""
    if minutes is None:
        return {"Mode": "OFF"}
    return {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": minutes}


# --- periodic tasks declared in code ---------------------------------------------------------------------
