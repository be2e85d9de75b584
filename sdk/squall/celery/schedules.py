"""Celery's beat schedules (``crontab``, ``schedule``) as EventBridge Scheduler expressions that fire alike.

``crontab(...)`` parses its fields as ``celery.schedules.crontab`` does (the grammar of Celery's
``crontab_parser``: ``*``, ``5``, ``0,30``, ``1-5``, ``22-2`` wrapping, ``*/15``, ``1-10/2``, day and month
names read by their first three letters; ints and collections of ints; each field is read and written by
:mod:`squall.celery.cronfields`), and :meth:`crontab.to_expression` gives the ``cron(...)`` expression that
fires at exactly the minutes Celery would. A ``schedule``, a timedelta or a number of seconds becomes a
``rate(...)`` when it is a whole number of minutes (:func:`expression_for`); a beat entry's name becomes a
schedule name with :func:`schedule_name`.

Time zone: a crontab carries none. Celery reads it in the app's ``timezone`` setting; the app passes that
setting to Squall as the schedule's ScheduleExpressionTimezone, so the same wall-clock minutes fire. Across
daylight saving the two differ once: a wall time that does not exist (02:30 on the night clocks spring
forward in Europe) runs an hour late (03:30) under Celery and not at all that day on EventBridge; a time
that occurs twice runs once under both (the first occurrence). See :mod:`squall.scheduler.schedule_expr`.

A rate fires first when the schedule is created and then every interval (absolute time, 24 hours a day),
as Celery's beat runs a ``schedule`` when it starts and then every interval. Not supported, refused with
InvalidSchedule: ``solar``, ``schedule(relative=True)``, intervals that are not whole minutes, and a crontab
restricting both day_of_month and day_of_week (Celery requires both to match; EventBridge restricts one).
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import timedelta

from squall.celery import cronfields
from squall.celery.cronfields import Cronspec
from squall.errors import InvalidSchedule
from squall.scheduler.scheduling import MAX_NAME_CHARS, check_expression, valid_name

__all__ = ["Cronspec", "crontab", "expression_for", "schedule", "schedule_name", "solar"]

_MINUTE = timedelta(minutes=1)
_UNNAMEABLE = re.compile(r"[^0-9A-Za-z_.-]")


class crontab:
    """Celery's crontab: fires at every minute that all five fields allow, read in the app's time zone.

    The fields take what Celery's do (ints, patterns such as ``"*/15"``, ``"mon-fri"``, ``"1-10/2"``, and
    collections of ints); day_of_week counts 0 = Sunday to 6 = Saturday. ``nowfun`` and ``app`` are
    accepted for Celery's sake and ignored. A bad field raises InvalidSchedule naming it.
    """

    def __init__(
        self,
        minute: Cronspec | None = "*",
        hour: Cronspec | None = "*",
        day_of_week: Cronspec | None = "*",
        day_of_month: Cronspec | None = "*",
        month_of_year: Cronspec | None = "*",
        *,
        nowfun: object = None,
        app: object = None,
    ) -> None:
        given = {"minute": minute, "hour": hour, "dom": day_of_month, "moy": month_of_year, "dow": day_of_week}
        self._given = {key: "*" if spec is None else spec for key, spec in given.items()}  # for messages and repr
        self.minute = cronfields.expand(cronfields.MINUTE, minute)
        self.hour = cronfields.expand(cronfields.HOUR, hour)
        self.day_of_week = cronfields.expand(cronfields.DAY_OF_WEEK, day_of_week)
        self.day_of_month = cronfields.expand(cronfields.DAY_OF_MONTH, day_of_month)
        self.month_of_year = cronfields.expand(cronfields.MONTH_OF_YEAR, month_of_year)
        if not any(day <= cronfields.DAYS_IN_MONTH[month] for month in self.month_of_year for day in self.day_of_month):
            raise InvalidSchedule(
                f"crontab day_of_month {self._given['dom']!r} never occurs in month_of_year {self._given['moy']!r}: "
                "choose days that the months have"
            )

    @classmethod
    def from_string(cls, text: str) -> crontab:
        """A crontab from ``"minute hour day_of_month month_of_year day_of_week"`` (one space apart, as Celery)."""
        parts = text.split(" ")
        if len(parts) != 5:
            raise InvalidSchedule(
                f"crontab {text!r}: expected 5 fields 'minute hour day_of_month month_of_year day_of_week' "
                f"one space apart, got {len(parts)}"
            )
        minute, hour, day_of_month, month_of_year, day_of_week = parts
        return cls(minute, hour, day_of_week, day_of_month, month_of_year)

    def to_expression(self) -> str:
        """The EventBridge Scheduler ``cron(minutes hours day-of-month month day-of-week year)`` that fires alike.

        Raises InvalidSchedule when both day_of_month and day_of_week are restricted: Celery fires only on
        days matching both, and an EventBridge cron expression restricts one of them, with ``?`` in the other.
        """
        by_month = self.day_of_month != cronfields.DAY_OF_MONTH.everything
        by_week = self.day_of_week != cronfields.DAY_OF_WEEK.everything
        if by_month and by_week:
            raise InvalidSchedule(
                f"{self!r}: Celery runs only on days matching both day_of_month {self._given['dom']!r} and day_of_week "
                f"{self._given['dow']!r}, which an EventBridge cron expression cannot say (it restricts one of "
                "them; two crontabs would run on days matching either): restrict one and check the other in the task"
            )
        day_of_month = cronfields.render(cronfields.DAY_OF_MONTH, self.day_of_month) if not by_week else "?"
        day_of_week = cronfields.render(cronfields.DAY_OF_WEEK, self.day_of_week) if by_week else "?"
        fields = (
            cronfields.render(cronfields.MINUTE, self.minute),
            cronfields.render(cronfields.HOUR, self.hour),
            day_of_month,
            cronfields.render(cronfields.MONTH_OF_YEAR, self.month_of_year),
            day_of_week,
            "*",
        )
        expression = f"cron({' '.join(fields)})"
        check_expression(expression, recurring=True)  # Squall's reading of AWS's rules: refuse here, not at deploy
        return expression

    def __repr__(self) -> str:
        return "<crontab: {minute} {hour} {dom} {moy} {dow} (m/h/dM/MY/d)>".format(**self._given)  # Celery's repr

    def _key(self) -> tuple[frozenset[int], ...]:
        return (self.minute, self.hour, self.day_of_week, self.day_of_month, self.month_of_year)

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if isinstance(other, crontab) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())


def _seconds_text(interval: timedelta) -> str:
    seconds = interval.total_seconds()
    return str(int(seconds)) if seconds.is_integer() else str(seconds)


def _interval(run_every: object, what: str) -> timedelta:
    """A timedelta, or seconds as a timedelta (Celery's maybe_timedelta); InvalidSchedule for anything else."""
    if isinstance(run_every, timedelta):
        return run_every
    if isinstance(run_every, int | float) and not isinstance(run_every, bool) and math.isfinite(run_every):
        try:
            return timedelta(seconds=run_every)
        except OverflowError:
            raise InvalidSchedule(f"{what}: {run_every!r} seconds is too long an interval") from None
    raise InvalidSchedule(
        f"{what}: {run_every!r} is not a squall.celery.schedules crontab or schedule, a timedelta or "
        "a number of seconds"
    )


def _rate(interval: timedelta, what: str) -> str:
    """``rate(N unit)`` for a whole number of minutes, in the largest unit that is exact."""
    if interval <= timedelta(0):
        raise InvalidSchedule(f"{what}: every {_seconds_text(interval)} s: the interval must be positive")
    if interval < _MINUTE or interval % _MINUTE:
        raise InvalidSchedule(
            f"{what}: every {_seconds_text(interval)} s cannot be an EventBridge Scheduler rate, which is a whole "
            "number of minutes (at least 1): use 60 s (timedelta(minutes=1)), another whole number of minutes, "
            "or a crontab(...)"
        )
    minutes = interval // _MINUTE
    for unit, size in (("day", 1440), ("hour", 60), ("minute", 1)):
        if minutes % size == 0:
            count = minutes // size
            return f"rate({count} {unit}{'' if count == 1 else 's'})"
    raise AssertionError("unreachable: every whole number of minutes is a multiple of 1")  # pragma: no cover


class schedule:
    """Celery's interval schedule: every ``run_every`` (a timedelta or seconds), from when it is created.

    ``nowfun`` and ``app`` are accepted for Celery's sake and ignored. ``relative=True`` (rounding to the
    interval's resolution) is refused: use a crontab, e.g. ``crontab(minute=0)`` for hourly on the hour.
    """

    def __init__(
        self,
        run_every: float | timedelta | None = None,
        relative: bool = False,
        nowfun: object = None,
        app: object = None,
    ) -> None:
        if run_every is None:
            raise InvalidSchedule("schedule(run_every=None): give the interval, as a timedelta or seconds")
        if relative:
            raise InvalidSchedule(
                f"schedule({run_every!r}, relative=True) is not supported: EventBridge rates run from the schedule's "
                "creation; use a crontab(...) for clock-aligned times, e.g. crontab(minute=0) for hourly on the hour"
            )
        self.run_every = _interval(run_every, f"schedule({run_every!r})")

    @property
    def seconds(self) -> float:
        """The interval in seconds."""
        return self.run_every.total_seconds()

    def to_expression(self) -> str:
        """The EventBridge Scheduler ``rate(...)``; InvalidSchedule unless the interval is whole minutes."""
        return _rate(self.run_every, repr(self))

    def __repr__(self) -> str:
        return f"schedule({self.run_every!r})"

    def __eq__(self, other: object) -> bool:
        return self.run_every == other.run_every if isinstance(other, schedule) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.run_every)


class solar:
    """Celery's sunrise/sunset schedule: not supported, it raises InvalidSchedule when created."""

    def __init__(self, event: str, lat: float, lon: float, **kwargs: object) -> None:
        raise InvalidSchedule(
            f"solar({event!r}, {lat!r}, {lon!r}) is not supported: EventBridge Scheduler has no sunrise or sunset "
            "schedules; use a crontab(...) at a fixed time"
        )


def expression_for(value: object, *, name: str) -> str:
    """The EventBridge Scheduler expression for a beat entry ``name``'s schedule.

    ``value`` is a crontab, a schedule, a timedelta or a number of seconds (Celery's beat_schedule
    ``"schedule"``). InvalidSchedule names the entry and its value when EventBridge cannot fire alike.
    """
    what = f"beat schedule {name!r}"
    if isinstance(value, crontab):
        try:
            return value.to_expression()
        except InvalidSchedule as exc:
            raise InvalidSchedule(f"{what}: {exc}") from None
    interval = value.run_every if isinstance(value, schedule) else _interval(value, what)
    return _rate(interval, what)


def schedule_name(beat_name: str) -> str:
    """A periodic schedule name for a beat entry's name (e.g. ``"add every 10 seconds"``).

    A name that is already valid is kept. Otherwise characters other than letters, digits, ``-``, ``_``
    and ``.`` become ``_``, the start is kept up to the length limit, and an 8-character hash of the whole
    name is added, so two beat names meet only if a hash collides.
    """
    if valid_name(beat_name):
        return beat_name
    # surrogatepass: a str may hold lone surrogates, and every str must get a name.
    digest = hashlib.sha256(beat_name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{_UNNAMEABLE.sub('_', beat_name)[: MAX_NAME_CHARS - 9]}-{digest}"
