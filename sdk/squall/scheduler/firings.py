"""When a schedule expression fires: the next fire time and a preview of several, in a time zone.

What EventBridge Scheduler does with time zones and daylight saving (sources in :mod:`schedule_expr`): a cron
time that does not exist is skipped, one that occurs twice fires once, and a day of a rate is 24 hours.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from squall.errors import InvalidSchedule
from squall.scheduler.schedule_expr import CronFields, ScheduleExpression, parse

__all__ = ["next_fire_after", "next_firing", "preview"]

#: How far before its StartDate a cron search starts, so a firing at StartDate itself counts.
_BEFORE_START = timedelta(microseconds=1)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidSchedule(f"time zone '{name}' is not a known IANA time zone name") from None


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _matching_days(cron: CronFields, first: date) -> Iterator[date]:
    """The days on or after ``first`` that the date fields allow, skipping whole years and months.

    Bounded: the year field never exceeds MAX_YEAR, so a schedule that never fires again ends the search.
    """
    for year in sorted(year for year in cron.years if year >= first.year):
        for month in sorted(cron.months):
            if (year, month) < (first.year, first.month):
                continue
            start = first.day if (year, month) == (first.year, first.month) else 1
            for day_number in range(start, calendar.monthrange(year, month)[1] + 1):
                day = date(year, month, day_number)
                if cron.matches_day(day):
                    yield day


def _next_cron(cron: CronFields, zone: ZoneInfo, after: datetime) -> datetime | None:
    # Walk the candidate days, and each day's times in wall-clock order. With fold=0 (the first of two
    # occurrences) later wall times are never earlier instants, so the first hit is the next fire.
    local = after.astimezone(zone)
    first = local.date()
    for day in _matching_days(cron, first):
        for hour in cron.hours:
            if day == first and hour < local.hour:
                continue  # wall times before `after`'s own cannot be later instants
            for minute in cron.minutes:
                if day == first and hour == local.hour and minute < local.minute:
                    continue
                wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)  # fold=0
                fire = wall.astimezone(UTC)
                if fire <= after:
                    continue
                # A wall time in the spring-forward gap does not exist: AWS skips it, so the round trip
                # through UTC lands on another wall time. A repeated one fires once, at fold=0.
                if fire.astimezone(zone).replace(tzinfo=None) != wall.replace(tzinfo=None):
                    continue
                return fire
    return None


def next_fire_after(expr: ScheduleExpression, tz: str, after: datetime) -> datetime | None:
    """The first time ``expr`` fires strictly after ``after``, in UTC; None if it never fires again.

    ``tz`` is the IANA time zone the expression is evaluated in (ScheduleExpressionTimezone); a naive
    ``after`` is read as UTC. For a rate this is ``after`` + the interval: pass the previous fire (or the
    creation time) as ``after``. An ``at`` time inside a spring-forward gap resolves with the offset in
    force before the gap (02:30 in New York fires at 03:30 EDT): AWS does not document this case.
    """
    zone = _zone(tz)
    after = _as_utc(after)
    if expr.rate is not None:
        return after + expr.rate
    if expr.at is not None:
        fire = expr.at.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the first of a repeated time
        return fire if fire > after else None
    if expr.cron is not None:
        return _next_cron(expr.cron, zone, after)
    return None


def next_firing(
    expr: ScheduleExpression,
    tz: str,
    after: datetime,
    *,
    created: datetime | None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> datetime | None:
    """When a stored schedule (made at ``created``, within StartDate/EndDate) next fires strictly after ``after``.

    From the EventBridge Scheduler User Guide ("Schedule types"): a ``rate`` fires first at its StartDate, or when
    created if it has none ("starts invoking immediately"), then every interval, so its firings keep that phase
    (not ``after`` + interval); a ``cron`` fires at or after StartDate; both fire before EndDate only. An ``at``
    fires once and ignores StartDate and EndDate. None if it never fires again; naive times are read as UTC.
    """
    after = _as_utc(after)
    if expr.at is not None:
        return next_fire_after(expr, tz, after)
    if expr.rate is not None:
        anchor = start if start is not None else created
        if anchor is None:
            fire: datetime | None = after + expr.rate  # no phase known: as if created at ``after``
        else:
            anchor = _as_utc(anchor)
            fire = anchor if after < anchor else anchor + expr.rate * ((after - anchor) // expr.rate + 1)
    else:
        fire = next_fire_after(expr, tz, after if start is None else max(after, _as_utc(start) - _BEFORE_START))
    if fire is None or (end is not None and fire >= _as_utc(end)):
        return None
    return fire


def preview(expression: str, timezone: str = "UTC", start: datetime | None = None, count: int = 5) -> list[datetime]:
    """The next ``count`` fire times strictly after ``start`` (default: now), as aware UTC datetimes.

    Cron fields are read as wall-clock time in ``timezone``: a time skipped by daylight saving does not
    fire that day, a time that occurs twice fires once (the first occurrence). A rate schedule is assumed
    to start when created, ``start`` being the creation time, so its first fire is ``start`` + interval
    (AWS docs: without a StartDate a rate schedule "starts invoking its target immediately"). An ``at``
    fires once, or not at all if it is not after ``start``. Fewer than ``count`` fires come back when the
    schedule ends (an ``at``, or a cron whose year field is exhausted; the search stops at 2199).
    """
    expr = parse(expression)
    _zone(timezone)
    moment = datetime.now(UTC) if start is None else _as_utc(start)
    fires: list[datetime] = []
    while len(fires) < count:
        fire = next_fire_after(expr, timezone, moment)
        if fire is None:
            break
        fires.append(fire)
        moment = fire
    return fires
