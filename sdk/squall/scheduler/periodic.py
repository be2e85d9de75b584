"""Periodic tasks declared in code (``@app.periodic``): their declaration, and the schedules the stack creates.

Each declaration becomes one recurring EventBridge Scheduler schedule ``p.<name>`` in the app's group, described
as a :class:`ScheduleResource` in the topology; the CDK stack creates it at deploy time, and the local runtime
sends the same CreateSchedule request (:func:`schedule_request`). What all schedules share (names, targets,
checks) is in :mod:`squall.scheduler.scheduling`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, overload

from squall import clock, limits
from squall.config import lane_key
from squall.errors import (
    InvalidArguments,
    InvalidSchedule,
    TaskDefinitionError,
)
from squall.scheduler import firings, schedule_expr
from squall.tasks import flow, lanes
from squall.tasks.options import call_time_limits
from squall.tasks.task import Signature, Task, default_task_name
from squall.wire.bodies import CodecChain, codecs_of

if TYPE_CHECKING:
    from squall.config import Settings
    from squall.protocols import App

from squall.scheduler.scheduling import (
    MAX_NAME_CHARS,
    PERIODIC_PREFIX,
    check_dates,
    check_expression,
    check_name,
    check_timezone,
    check_window,
    encoded_input,
    envelope_template,
    flexible_window,
    start_date_for,
    target,
    valid_name,
)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class ScheduleResource:
    """One periodic schedule (``AWS::Scheduler::Schedule``) in the app's schedule group, targeting a queue.

    Its target is the SQS queue ``queue`` (a templated SendMessage target) with the Topology's scheduler
    role and scheduler DLQ; ``input`` is the envelope template whose task id EventBridge Scheduler
    completes with ``<aws.scheduler.scheduled-time>`` at each firing (see :func:`schedule_input`).
    """

    #: Schedule Name: ``p.<periodic name>``.
    name: str
    #: The name given to ``@app.periodic`` (``name=``, or the task's name).
    periodic_name: str
    #: ScheduleExpression (canonical) and ScheduleExpressionTimezone (IANA).
    expression: str
    timezone: str
    #: Logical queue name: Target.Arn is this queue's ARN.
    queue: str
    #: The registered task each firing runs.
    task: str
    #: Target.Input: the envelope template (JSON text).
    input: str
    #: FlexibleTimeWindow: Mode OFF when None, else FLEXIBLE with this MaximumWindowInMinutes.
    flexible_window_minutes: int | None
    #: StartDate and EndDate (aware, UTC), if any.
    start: datetime | None
    end: datetime | None
    #: State: ENABLED or DISABLED.
    enabled: bool
    #: Target.RetryPolicy: MaximumRetryAttempts and MaximumEventAgeInSeconds.
    retry_attempts: int
    max_event_age: int
    #: Description shown in the console.
    description: str


@dataclass(frozen=True, slots=True)
class PeriodicSchedule:
    """A periodic task declared with ``@app.periodic``: what to run, when, and with which arguments."""

    name: str
    task: Task[..., Any]
    expression: schedule_expr.ScheduleExpression
    timezone: str = "UTC"
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    flexible_window_minutes: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    enabled: bool = True
    #: Seconds after its scheduled time when a firing expires (REVOKED as expired if received later); None:
    #: the task's own ``expires``.
    expires: float | None = None
    #: The firings' own time limits (seconds), instead of the task's (docs/time-limits.md, "Per call").
    time_limit: float | None = None
    soft_time_limit: float | None = None
    #: The lane of the task's queue the firings travel on (a queue declared with lanes); None: its default lane.
    priority: str | None = None

    def call_options(self) -> dict[str, Any]:
        """The envelope options every firing carries: its expiry, time limits and lane (those given)."""
        options: dict[str, Any] = {} if self.expires is None else {"expires_after": self.expires}
        options.update(call_time_limits(self.name, self.time_limit, self.soft_time_limit))
        if self.priority is not None:
            options.update(lanes.call_options(self.task, self.task.options.queue, self.priority))
        return options

    @property
    def queue(self) -> str:
        """The queue its firings are sent to: the task's, or the lane ``priority`` names (``<queue>:<lane>``)."""
        queue = self.task.options.queue
        return queue if self.priority is None else lane_key(queue, self.priority)

    @property
    def schedule_name(self) -> str:
        """The schedule's name in the app's group: ``p.<name>``."""
        return PERIODIC_PREFIX + self.name

    def preview(self, start: datetime | None = None, count: int = 5) -> list[datetime]:
        """The next ``count`` fire times (aware UTC) after ``start`` (default now), within start/end."""
        after = start or datetime.fromtimestamp(clock.now(), UTC)
        if self.start is not None and after < self.start:
            after = self.start - timedelta(microseconds=1)
        fires = firings.preview(str(self.expression), self.timezone, after, count)
        return [fire for fire in fires if self.end is None or fire < self.end]


class PeriodicDecorator(Protocol):
    """What ``app.periodic(...)`` returns: apply it to a function (declaring a task), to a Task, or to a signature
    (its task with its arguments: ``app.periodic("rate(5 minutes)", name="ping")(app.http(url, payload))``)."""

    @overload
    def __call__(self, target: Task[P, R], /) -> Task[P, R]: ...

    @overload
    def __call__(self, target: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def __call__(self, target: Signature[R], /) -> Task[..., R]: ...


#: The call options a periodic schedule takes from the signature it is applied to (as its own arguments).
_SIGNATURE_OPTIONS = ("expires", "time_limit", "soft_time_limit", "priority")


def declare_periodic(
    app: App,
    expression: str,
    *,
    timezone: str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any] | None,
    name: str | None,
    flexible_window_minutes: int | None,
    start: datetime | None,
    end: datetime | None,
    enabled: bool,
    expires: float | None = None,
    time_limit: float | None = None,
    soft_time_limit: float | None = None,
    priority: str | None = None,
) -> PeriodicDecorator:
    """Check a periodic declaration now, and return the decorator that registers it (see Squall.periodic)."""
    parsed = check_expression(expression, recurring=True)
    problem = flow.expires_seconds_problem(expires)
    if problem is not None:
        raise TaskDefinitionError(f"periodic schedule {name or expression!r}: option 'expires' {problem}")
    try:
        call_time_limits(name or expression, time_limit, soft_time_limit)
    except InvalidArguments as exc:
        raise TaskDefinitionError(f"periodic schedule {str(exc).removeprefix('task ')}") from None
    check_timezone(timezone)
    check_window(flexible_window_minutes)
    start, end = check_dates(start, end)
    if name is not None:
        check_name(name)

    def apply(target: Any) -> Any:
        nonlocal args, kwargs
        given: dict[str, Any] = {
            "expires": expires, "time_limit": time_limit, "soft_time_limit": soft_time_limit, "priority": priority
        }  # fmt: skip
        if isinstance(target, Signature):
            # A call as data (``app.http(url, payload)``, ``task.s(...)``): its task, with its arguments
            if args or kwargs:
                raise TaskDefinitionError(
                    f"periodic schedule {name or target.name!r}: the signature carries the arguments; "
                    "leave out args= and kwargs="
                )
            refused = sorted(set(target.options) - set(_SIGNATURE_OPTIONS))
            if refused or target.callbacks or target.errbacks or isinstance(target.options.get("expires"), datetime):
                raise TaskDefinitionError(
                    f"periodic schedule {name or target.name!r}: a signature given to app.periodic may carry "
                    f"{', '.join(_SIGNATURE_OPTIONS)} (expires in seconds), and no call options like "
                    f"{', '.join(refused) or 'expires as a datetime'} nor callbacks (the schedule decides when it "
                    "fires and its ids); give app.periodic the call without them"
                )
            for option, value in target.options.items():  # a signature's option counts where the declaration gives none
                given[option] = value if given[option] is None else given[option]
            args, kwargs = target.args, target.kwargs
            target = app.get_task(target.name)
        if isinstance(target, Task):
            if target.app is not app:
                raise TaskDefinitionError(
                    f"task {target.name!r} belongs to another app; declare it on app {app.name!r}"
                )
            task_name = target.name
        else:
            task_name = default_task_name(target)
        periodic_name = name if name is not None else default_periodic_name(task_name)
        if not valid_name(periodic_name):
            raise InvalidSchedule(
                f"task name {task_name!r} cannot name its schedule (1-{MAX_NAME_CHARS} letters, digits, '-', '_' "
                "or '.'): pass name='...' to app.periodic"
            )
        if periodic_name in app.periodic_schedules:
            raise TaskDefinitionError(f"two periodic schedules are named {periodic_name!r}; give one name='...'")
        task = target if isinstance(target, Task) else app.task(target)
        try:
            periodic = PeriodicSchedule(
                periodic_name,
                task,
                parsed,
                timezone,
                tuple(args),
                dict(kwargs or {}),
                flexible_window_minutes,
                start,
                end,
                enabled,
                None if given["expires"] is None else float(given["expires"]),
                given["time_limit"],
                given["soft_time_limit"],
                given["priority"],
            )
            what = "options"
            periodic.call_options()  # refuses a priority that names no lane of the task's queue, or unusable limits
            what = "args/kwargs"
            task.bind_arguments(periodic.args, periodic.kwargs)
            schedule_input(app, periodic)  # refuses arguments JSON cannot carry, or too large an input
        except (InvalidArguments, ValueError) as exc:
            if task is not target:
                del app.tasks[task.name]  # declared here: undo, so a corrected declaration can register it
            if isinstance(exc, InvalidArguments):
                raise TaskDefinitionError(f"periodic schedule {periodic_name!r}: {what}: {exc}") from exc
            raise
        app.periodic_schedules[periodic_name] = periodic
        return task

    return apply


def default_periodic_name(task_name: str) -> str:
    """A periodic schedule's default name: its task's, without ``.<locals>``, other characters as ``_``.

    A name longer than 62 characters keeps its end (the function's name) and gains a hash of the whole.
    """
    name = re.sub(r"[^0-9A-Za-z_.-]", "_", task_name.replace(".<locals>", ""))
    if len(name) <= MAX_NAME_CHARS:
        return name
    digest = hashlib.sha256(task_name.encode("utf-8")).hexdigest()[:8]
    return f"{name[-(MAX_NAME_CHARS - 9) :].lstrip('.')}-{digest}"


def schedule_input(app: App, periodic: PeriodicSchedule) -> str:
    """The Target.Input of a periodic schedule: its envelope template through the app's body codecs.

    Unsigned: the stack creates it at deploy time, where no key is at hand (see :mod:`squall.wire.signing`).
    """
    if periodic.task.app is not app:
        raise TaskDefinitionError(f"periodic schedule {periodic.name!r} belongs to another app")
    template = envelope_template(
        periodic.schedule_name,
        periodic.task,
        periodic.args,
        periodic.kwargs,
        periodic.task.options.queue,
        periodic.call_options(),
    )
    return encoded_input(CodecChain(codecs_of(app)), periodic.task, template)


def schedule_resources(app: App) -> tuple[ScheduleResource, ...]:
    """The app's periodic schedules as deployable resources (for :func:`squall.deploy.topology.describe`)."""
    return tuple(
        ScheduleResource(
            name=periodic.schedule_name,
            periodic_name=periodic.name,
            expression=str(periodic.expression),
            timezone=periodic.timezone,
            queue=periodic.queue,
            task=periodic.task.name,
            input=schedule_input(app, periodic),
            flexible_window_minutes=periodic.flexible_window_minutes,
            start=periodic.start,
            end=periodic.end,
            enabled=periodic.enabled,
            retry_attempts=limits.SCHEDULER_RETRY_ATTEMPTS,
            max_event_age=limits.SCHEDULER_EVENT_AGE_SECONDS,
            description=f"Squall periodic task {periodic.task.name}",
        )
        for periodic in app.periodic_schedules.values()
    )


def schedule_request(resource: ScheduleResource, settings: Settings) -> dict[str, Any]:
    """CreateSchedule arguments for a periodic schedule (the local runtime; the stack sets the same)."""
    request: dict[str, Any] = {
        "Name": resource.name,
        "GroupName": settings.schedule_group,
        "ScheduleExpression": resource.expression,
        "ScheduleExpressionTimezone": resource.timezone,
        "FlexibleTimeWindow": flexible_window(resource.flexible_window_minutes),
        "Target": target(settings, resource.queue, resource.input),
        "State": "ENABLED" if resource.enabled else "DISABLED",
        "Description": resource.description,
        "ActionAfterCompletion": "NONE",
    }
    start = start_date_for(resource.expression, resource.start, datetime.fromtimestamp(clock.now(), UTC))
    if start is not None:
        request["StartDate"] = start
    if resource.end is not None:
        request["EndDate"] = resource.end
    return request
