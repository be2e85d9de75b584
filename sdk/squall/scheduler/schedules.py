"""Dynamic schedules: made, listed, paused and deleted at run time (``app.schedules``).

For schedules that depend on data (a reminder per user). They live in the app's schedule group as
``d.<name>`` (periodic schedules declared in code are ``p.<name>`` and belong to the stack), target the
task's queue with the same envelope template as periodic ones, and each firing runs a task with id
``d.<name>@<scheduled time>``. Validated like declared schedules, before any call to AWS.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError

from squall import clock
from squall.errors import InvalidSchedule, ScheduleExists, ScheduleNotFound, TaskDefinitionError
from squall.scheduler.scheduling import (
    DYNAMIC_PREFIX,
    check_dates,
    check_expression,
    check_name,
    check_timezone,
    check_window,
    encoded_input,
    envelope_template,
    flexible_window,
    require_scheduler,
    start_date_for,
    target,
)
from squall.tasks import flow, lanes
from squall.tasks.options import call_time_limits
from squall.wire import codec
from squall.wire.bodies import CodecChain, chain_for

if TYPE_CHECKING:
    from squall.protocols import App
    from squall.tasks.task import Signature

_RATE_UNITS = ((86_400, "day"), (3_600, "hour"), (60, "minute"))
#: The fields of a GetSchedule response that CreateSchedule and UpdateSchedule take back as they are (the State
#: and the dates are each caller's to decide).
REQUEST_FIELDS = (
    "Name",
    "GroupName",
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "FlexibleTimeWindow",
    "Target",
    "Description",
    "ActionAfterCompletion",
    "KmsKeyArn",
)


@dataclass(frozen=True, slots=True)
class ScheduleSummary:
    """A dynamic schedule as ListSchedules describes it (no expression: use ``get`` for that)."""

    name: str
    enabled: bool
    arn: str
    queue_arn: str
    created: datetime | None


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """A dynamic schedule as stored: when it fires, what it runs, and whether it is paused."""

    name: str
    expression: str
    timezone: str
    enabled: bool
    task: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    queue_arn: str
    start: datetime | None
    end: datetime | None
    flexible_window_minutes: int | None
    arn: str


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _info(doc: dict[str, Any], arn: str, bodies: CodecChain) -> ScheduleInfo:
    """A view of a GetSchedule response (or of a CreateSchedule request), its Input read through ``bodies``."""
    target = doc["Target"]
    envelope = codec.loads(bodies.peek(target.get("Input") or "{}"))
    window = doc.get("FlexibleTimeWindow") or {}
    return ScheduleInfo(
        name=doc["Name"].removeprefix(DYNAMIC_PREFIX),
        expression=doc["ScheduleExpression"],
        timezone=doc.get("ScheduleExpressionTimezone") or "UTC",
        enabled=doc.get("State", "ENABLED") == "ENABLED",
        task=str(envelope.get("task", "")),
        args=tuple(envelope.get("args", ())),
        kwargs=dict(envelope.get("kwargs", {})),
        queue_arn=target["Arn"],
        start=_utc(doc.get("StartDate")),
        end=_utc(doc.get("EndDate")),
        flexible_window_minutes=window.get("MaximumWindowInMinutes") if window.get("Mode") == "FLEXIBLE" else None,
        arn=arn,
    )


def _utc(value: Any) -> datetime | None:
    return value.astimezone(UTC) if isinstance(value, datetime) else None


def rate_expression(rate: str | timedelta) -> str:
    """``rate(...)`` from "15 minutes", "rate(15 minutes)" or a timedelta of whole minutes."""
    if isinstance(rate, str):
        return rate if rate.startswith("rate(") else f"rate({rate})"
    seconds = rate.total_seconds()
    for size, unit in _RATE_UNITS:
        if seconds >= size and seconds % size == 0:
            value = int(seconds // size)
            return f"rate({value} {unit}{'' if value == 1 else 's'})"
    raise InvalidSchedule(f"rate {rate!r} must be a positive whole number of minutes, hours or days")


def at_expression(at: datetime | str, timezone: str) -> str:
    """``at(...)`` from a datetime (aware: converted to ``timezone``; naive: already in it), refusing the past."""
    if isinstance(at, str):
        return at if at.startswith("at(") else f"at({at})"
    zone = ZoneInfo(timezone)
    wall = at.astimezone(zone) if at.tzinfo is not None else at.replace(tzinfo=zone)
    if wall.microsecond:
        wall = wall.replace(microsecond=0) + timedelta(seconds=1)  # never fire early
    if wall.timestamp() <= clock.now():
        raise InvalidSchedule(
            f"at {wall.isoformat()} is not in the future; a one-time schedule in the past never fires. "
            "To run a task now, use delay()"
        )
    return f"at({wall.replace(tzinfo=None).isoformat()})"


def firing_options(name: str, signature: Signature[Any], queue: str, *, once: bool) -> dict[str, Any]:
    """The envelope options every firing of dynamic schedule ``name`` carries from its signature's options, as a
    call's would: ``expires`` (seconds after each firing's time; a datetime only for a one-time schedule), the
    flow key and message group (or the task's ``tenant_key`` argument), the time limits and the lane."""
    given, task = signature.options, signature.task
    options: dict[str, Any] = {}
    expires = given.get("expires")
    if isinstance(expires, datetime):
        if not once:
            raise InvalidSchedule(
                f"schedule {name!r}: expires= as a datetime would expire every firing after it; give the seconds "
                "after each firing's time instead"
            )
        options["expires_at"] = expires.timestamp()
    elif expires is not None:
        options["expires_after"] = float(expires)
    if given.get("flow_key") is not None:
        options["flow_key"] = given["flow_key"]
    group = given.get("message_group_id")
    if group is None and task.options.tenant_key is not None:
        group = flow.key_value(task.argument(task.options.tenant_key, signature.args, signature.kwargs))
    if group is not None:
        options["message_group_id"] = group
    options.update(call_time_limits(task.name, given.get("time_limit"), given.get("soft_time_limit")))
    options.update(lanes.call_options(task, queue, given.get("priority")))
    return options


class Schedules:
    """The app's dynamic schedules in EventBridge Scheduler: create, get, list, pause, resume, delete."""

    def __init__(self, app: App) -> None:
        self.app = app

    def create(
        self,
        name: str,
        signature: Signature[Any],
        *,
        cron: str | None = None,
        rate: str | timedelta | None = None,
        at: datetime | str | None = None,
        timezone: str = "UTC",
        start: datetime | None = None,
        end: datetime | None = None,
        flexible_window_minutes: int | None = None,
        enabled: bool = True,
        queue: str | None = None,
    ) -> ScheduleInfo:
        """Create schedule ``name`` running ``signature`` (``task.s(...)``) on ``cron``, ``rate`` or ``at``.

        ``cron`` takes the six fields (``"0 9 ? * MON-FRI *"``) or ``"cron(...)"``; ``rate`` takes
        ``"15 minutes"`` or a timedelta; ``at`` a datetime (naive: wall time in ``timezone``) and fires once,
        then the schedule is deleted. Raises InvalidSchedule naming the argument, ScheduleExists if taken.
        """
        check_name(name)
        given = [label for label, value in (("cron", cron), ("rate", rate), ("at", at)) if value is not None]
        if len(given) != 1:
            raise InvalidSchedule(f"give exactly one of cron=, rate= or at=; got {', '.join(given) or 'none'}")
        check_timezone(timezone)
        if cron is not None:
            expression = cron if cron.startswith("cron(") else f"cron({cron})"
        elif rate is not None:
            expression = rate_expression(rate)
        else:
            assert at is not None  # noqa: S101  # exactly one was given, checked above
            expression = at_expression(at, timezone)
        parsed = check_expression(expression, recurring=False)
        check_window(flexible_window_minutes)
        start, end = check_dates(start, end)
        task = signature.task
        if task.app is not self.app:
            raise TaskDefinitionError(f"task {task.name!r} belongs to another app; schedule it with its own app")
        settings = self.app.settings
        require_scheduler(settings)
        now = datetime.fromtimestamp(clock.now(), UTC)
        if parsed.kind == "rate" and start is None:
            # Pin the first fire (now, as the service does without one) so pause/resume keep the phase.
            start = now.replace(microsecond=0) + timedelta(seconds=1)
        refused = sorted(set(signature.options) & {"countdown", "eta", "task_id", "max_retries"})
        if refused:
            raise InvalidSchedule(
                f"schedule {name!r}: the signature sets {', '.join(refused)}, which a schedule decides itself "
                "(its firing time and its firing ids); drop them from the signature"
            )
        queue_name = queue or signature.options.get("queue") or task.options.queue
        options = firing_options(name, signature, queue_name, once=parsed.kind == "at")
        bodies = chain_for(self.app)  # signed when the app signs: the worker then refuses unsigned firings
        template = envelope_template(DYNAMIC_PREFIX + name, task, signature.args, signature.kwargs, queue_name, options)
        body = encoded_input(bodies, task, template)
        request: dict[str, Any] = {
            "Name": DYNAMIC_PREFIX + name,
            "GroupName": settings.schedule_group,
            "ScheduleExpression": str(parsed),
            "ScheduleExpressionTimezone": timezone,
            "FlexibleTimeWindow": flexible_window(flexible_window_minutes),
            "Target": target(settings, queue_name, body, lane=options.get(lanes.LANE_OPTION)),
            "State": "ENABLED" if enabled else "DISABLED",
            "ActionAfterCompletion": "DELETE" if parsed.kind == "at" else "NONE",
            "Description": f"Squall dynamic schedule: task {task.name}",
        }
        start = start_date_for(str(parsed), start, now)
        if start is not None:
            request["StartDate"] = start
        if end is not None:
            request["EndDate"] = end
        try:
            response = self.app.scheduler.create_schedule(**request)
        except ClientError as exc:
            if _code(exc) == "ConflictException":
                raise ScheduleExists(name) from exc
            raise
        return _info(request, response["ScheduleArn"], bodies)

    def _get(self, name: str) -> dict[str, Any]:
        check_name(name)
        try:
            doc = self.app.scheduler.get_schedule(
                Name=DYNAMIC_PREFIX + name, GroupName=self.app.settings.schedule_group
            )
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                raise ScheduleNotFound(name) from exc
            raise
        return dict(doc)

    def get(self, name: str) -> ScheduleInfo:
        """The schedule called ``name``; ScheduleNotFound if there is none."""
        doc = self._get(name)
        return _info(doc, doc["Arn"], chain_for(self.app))

    def list(self) -> builtins.list[ScheduleSummary]:
        """Every dynamic schedule of the app (one ListSchedules call per 100; expressions need ``get``)."""
        paginator = self.app.scheduler.get_paginator("list_schedules")
        out = []
        pages = paginator.paginate(GroupName=self.app.settings.schedule_group, NamePrefix=DYNAMIC_PREFIX)
        for page in pages:
            for item in page.get("Schedules", []):
                out.append(
                    ScheduleSummary(
                        name=item["Name"].removeprefix(DYNAMIC_PREFIX),
                        enabled=item.get("State") == "ENABLED",
                        arn=item["Arn"],
                        queue_arn=item.get("Target", {}).get("Arn", ""),
                        created=_utc(item.get("CreationDate")),
                    )
                )
        return sorted(out, key=lambda summary: summary.name)

    def pause(self, name: str) -> ScheduleInfo:
        """Stop the schedule firing until resumed (State DISABLED); firings missed meanwhile never happen."""
        return self._set_state(name, "DISABLED")

    def resume(self, name: str) -> ScheduleInfo:
        """Let a paused schedule fire again from its next fire time (State ENABLED)."""
        return self._set_state(name, "ENABLED")

    def _set_state(self, name: str, state: Literal["ENABLED", "DISABLED"]) -> ScheduleInfo:
        doc = self._get(name)
        if doc.get("State") != state:
            # UpdateSchedule replaces the whole schedule: send back every field, changing only State.
            keep = (*REQUEST_FIELDS, "EndDate")
            request = {key: doc[key] for key in keep if doc.get(key) is not None}
            start = start_date_for(
                doc["ScheduleExpression"], _utc(doc.get("StartDate")), datetime.fromtimestamp(clock.now(), UTC)
            )
            if start is not None:
                request["StartDate"] = start
            self.app.scheduler.update_schedule(**request, State=state)
            doc.update(State=state, StartDate=start)
        return _info(doc, doc["Arn"], chain_for(self.app))

    def delete(self, name: str) -> bool:
        """Delete the schedule; False if there was none."""
        check_name(name)
        try:
            self.app.scheduler.delete_schedule(Name=DYNAMIC_PREFIX + name, GroupName=self.app.settings.schedule_group)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True
