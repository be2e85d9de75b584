"""A local EventBridge Scheduler: fires the schedules stored in moto on the runtime's clock.

moto stores schedules but never fires them. Whenever the runtime moves its clock, this reads the app's
schedule group (ListSchedules, then GetSchedule for each), works out the firings that fell due, and for
each, in time order, moves the clock to it, substitutes the context attributes into the target's Input and
sends it to the target queue (the templated SQS SendMessage target). Semantics, from the EventBridge
Scheduler User Guide ("Schedule types", "Adding context attributes"):

* ``cron`` in ScheduleExpressionTimezone with its daylight-saving rules (:func:`firings.next_firing`);
* ``rate``: first at StartDate, or when created if there is none ("starts invoking immediately"), then
  every interval;
* ``at``: once; a schedule with ActionAfterCompletion DELETE is deleted after firing;
* DISABLED schedules do not fire, and firings missed while disabled never happen;
* StartDate and EndDate bound recurring schedules: fires at or after StartDate and before EndDate.

Each firing happens exactly at its scheduled time (a flexible window is not simulated). A firing whose
queue does not exist goes to the schedule's DeadLetterConfig queue, as the service does once its retries
run out. Firings due while the clock moved some other way (``AsyncResult.get`` sleeping on the fake clock)
are sent, late but in order, the next time the runtime moves the clock.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from squall.errors import InvalidSchedule
from squall.scheduler import firings, schedule_expr
from squall.scheduler.scheduling import scheduled_time_text

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_sqs import SQSClient

    from squall.clock import Clock

#: Moves a new schedule's cursor just before its creation, so a firing at that very instant counts.
_EPSILON = 1e-6
#: Firings this close after ``until`` count as due: times read back from the API are rounded to the
#: microsecond, and the runtime steps the clock a millisecond past each instant anyway.
_SLACK = 1e-3


@dataclass(frozen=True, slots=True)
class Firing:
    """One invocation the local scheduler made: which schedule, for which scheduled time, sent where."""

    schedule: str
    scheduled_time: str
    at: float
    queue_arn: str
    dead_lettered: bool = False


@dataclass(frozen=True, slots=True)
class _Schedule:
    """The parts of a GetSchedule response that decide when a schedule fires and what it sends."""

    name: str
    arn: str
    expression: schedule_expr.ScheduleExpression
    timezone: str
    enabled: bool
    created: float
    start: float | None
    end: float | None
    target: dict[str, Any]
    delete_after: bool

    @property
    def key(self) -> tuple[str, float]:
        return (self.arn, self.created)  # a schedule deleted and made again starts afresh

    @classmethod
    def from_response(cls, doc: dict[str, Any]) -> _Schedule:
        try:
            expression = schedule_expr.parse(doc["ScheduleExpression"])
        except InvalidSchedule as exc:
            raise InvalidSchedule(f"schedule {doc['Name']!r} in moto: {exc}") from None

        def epoch(key: str) -> float | None:
            value = doc.get(key)
            return value.timestamp() if isinstance(value, datetime) else None

        return cls(
            name=doc["Name"],
            arn=doc["Arn"],
            expression=expression,
            timezone=doc.get("ScheduleExpressionTimezone") or "UTC",
            enabled=doc.get("State", "ENABLED") == "ENABLED",
            created=epoch("CreationDate") or 0.0,
            start=epoch("StartDate"),
            end=epoch("EndDate"),
            target=dict(doc["Target"]),
            delete_after=doc.get("ActionAfterCompletion") == "DELETE",
        )

    def next_after(self, cursor: float) -> float | None:
        """The first fire time strictly after ``cursor``, within StartDate/EndDate; None if none."""
        fire = firings.next_firing(
            self.expression,
            self.timezone,
            _utc(cursor),
            created=_utc(self.created),
            start=None if self.start is None else _utc(self.start),
            end=None if self.end is None else _utc(self.end),
        )
        return None if fire is None else fire.timestamp()


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def fill_context(text: str, schedule_arn: str, scheduled_time: str) -> str:
    """Replace the Scheduler's context attributes in an Input, as the service does when it invokes."""
    return (
        text.replace("<aws.scheduler.scheduled-time>", scheduled_time)
        .replace("<aws.scheduler.schedule-arn>", schedule_arn)
        .replace("<aws.scheduler.execution-id>", uuid.uuid4().hex[:16])
        .replace("<aws.scheduler.attempt-number>", "1")
    )


class LocalScheduler:
    """Fires one schedule group's schedules on a clock; the runtime calls :meth:`fire_until`."""

    def __init__(
        self,
        scheduler: Callable[[], EventBridgeSchedulerClient],
        sqs: Callable[[], SQSClient],
        group: str,
        clock: Clock,
    ) -> None:
        self._scheduler = scheduler
        self._sqs = sqs
        self.group = group
        self.clock = clock
        #: Every firing so far, in order.
        self.fired: list[Firing] = []
        self._cursors: dict[tuple[str, float], float] = {}

    def schedules(self) -> list[_Schedule]:
        """Every schedule in the group, as stored now."""
        client = self._scheduler()
        out = []
        for page in client.get_paginator("list_schedules").paginate(GroupName=self.group):
            for item in page.get("Schedules", []):
                try:
                    doc = client.get_schedule(Name=item["Name"], GroupName=self.group)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                        continue  # deleted between the two calls
                    raise
                out.append(_Schedule.from_response(dict(doc)))
        return out

    def _cursor(self, schedule: _Schedule) -> float:
        return self._cursors.get(schedule.key, schedule.created - _EPSILON)

    def next_fire(self, *, recurring: bool) -> float | None:
        """When the next enabled one-time (``recurring=False``) or recurring schedule fires, if ever."""
        times = [
            schedule.next_after(self._cursor(schedule))
            for schedule in self.schedules()
            if schedule.enabled and (schedule.expression.kind != "at") == recurring
        ]
        return min((t for t in times if t is not None), default=None)

    def resume_from(self, when: float) -> None:
        """Count every firing up to ``when`` as made: the schedules restored from a stopped dev server fired then."""
        for schedule in self.schedules():
            self._cursors[schedule.key] = max(self._cursor(schedule), when)

    def _due(self, schedule: _Schedule, until: float) -> Iterator[tuple[float, str, _Schedule]]:
        fire = schedule.next_after(self._cursor(schedule))
        while fire is not None and fire <= until:
            yield fire, schedule.arn, schedule
            fire = schedule.next_after(fire)

    def fire_until(self, until: float) -> int:
        """Send every firing due up to ``until``, in time order, moving the clock to each; return how many."""
        until += _SLACK
        schedules = self.schedules()
        streams = [self._due(schedule, until) for schedule in schedules if schedule.enabled]
        count = 0
        for when, _arn, schedule in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
            now = self.clock.now()
            if when > now:
                self.clock.sleep(when - now)
            self._send(schedule, when)
            self._cursors[schedule.key] = when
            count += 1
            if schedule.expression.kind == "at" and schedule.delete_after:
                self._scheduler().delete_schedule(Name=schedule.name, GroupName=self.group)
        for schedule in schedules:  # disabled ones too: firings missed while paused never happen
            self._cursors[schedule.key] = max(self._cursor(schedule), until)
        return count

    def _send(self, schedule: _Schedule, when: float) -> None:
        scheduled = scheduled_time_text(_utc(when))
        body = fill_context(schedule.target.get("Input", ""), schedule.arn, scheduled)
        queue_arn = schedule.target["Arn"]
        sqs = self._sqs()
        try:
            url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)
        except ClientError:
            dlq = schedule.target.get("DeadLetterConfig", {}).get("Arn")
            if not dlq:
                raise
            url = sqs.get_queue_url(QueueName=dlq.rsplit(":", 1)[-1])["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)
            self.fired.append(Firing(schedule.name, scheduled, when, queue_arn, dead_lettered=True))
            return
        self.fired.append(Firing(schedule.name, scheduled, when, queue_arn))
