"""Celery's beat schedules (``crontab``, ``schedule``) as EventBridge Scheduler expressions that fire alike.

``crontab(...)`` parses its fields as ``celery.schedules.crontab`` does (the grammar of Celery's
``crontab_parser``: ``*``, ``5``, ``0,30``, ``1-5``, ``22-2`` wrapping, ``*/15``, ``1-10/2``, day and month
names read by their first three letters; ints and collections of ints), and :meth:`crontab.to_expression`
gives the ``cron(...)`` expression that fires at exactly the minutes Celery would. A ``schedule``, a
timedelta or a number of seconds becomes a ``rate(...)`` when it is a whole number of minutes
(:func:`expression_for`); a beat entry's name becomes a schedule name with :func:`schedule_name`.

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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeAlias

from squall.errors import InvalidSchedule
from squall.scheduler.scheduling import MAX_NAME_CHARS, check_expression, valid_name

__all__ = ["Cronspec", "crontab", "expression_for", "schedule", "schedule_name", "solar"]

#: What a crontab field takes, as in Celery: an int, a pattern string, or a collection of ints.
Cronspec: TypeAlias = int | str | Iterable[int]

_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # Celery's numbers: 0 = Sunday
_AWS_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # EventBridge's 1-7, by Celery's number
# Celery's crontab_parser patterns, matched in this order with re.match (at the start only, as Celery does).
_RANGE_STEPS = re.compile(r"(\w+?)-(\w+)/(\w+)?")
_RANGE = re.compile(r"(\w+?)-(\w+)")
_STAR_STEPS = re.compile(r"\*/(\w+)?")
_STAR = re.compile(r"^\*$")
_MINUTE = timedelta(minutes=1)
_UNNAMEABLE = re.compile(r"[^0-9A-Za-z_.-]")


class _Bad(Exception):
    """A field-level problem; the crontab prefixes the field's name and value."""


@dataclass(frozen=True)
class _Field:
    name: str  # Celery's argument name
    low: int  # Celery's smallest and largest values
    high: int
    increments: bool  # whether EventBridge allows '/' in this field (not in day-of-week)
    names: tuple[str, ...] = ()  # how EventBridge writes each value, by Celery's number, if not as a number
    hint: str = ""

    @property
    def everything(self) -> frozenset[int]:
        return frozenset(range(self.low, self.high + 1))

    def aws(self, value: int) -> str:
        """One value as EventBridge writes it (day_of_week 0, Sunday, is SUN: EventBridge numbers it 1)."""
        return self.names[value - self.low] if self.names else str(value)


_MINUTE_FIELD = _Field("minute", 0, 59, increments=True)
_HOUR = _Field("hour", 0, 23, increments=True)
_DAY_OF_WEEK = _Field(
    "day_of_week",
    0,
    6,
    increments=False,
    names=_AWS_DAY_NAMES,
    hint=" (Celery counts 0 = Sunday to 6 = Saturday: Sunday is 0 or 'sun')",
)
_DAY_OF_MONTH = _Field("day_of_month", 1, 31, increments=True)
_MONTH_OF_YEAR = _Field("month_of_year", 1, 12, increments=True)
# Celery refuses a crontab whose days never occur in its months, counting February's 29th (leap years).
_DAYS_IN_MONTH = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


def _in_range(value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise _Bad(f"{value} is outside {low}-{high}")
    return value


def _number(token: str, low: int, high: int) -> int:
    """A number or a name, as Celery's ``_expand_number``: int(), else a month name, else a day name."""
    if token[0] == "-":
        raise _Bad(f"'{token}' is negative, and no field takes negative numbers")
    try:
        value = int(token)
    except ValueError:
        key = token[:3].lower()  # Celery reads "monday" and "mon" alike, and names in every field
        if key in _MONTH_NAMES:
            value = _MONTH_NAMES.index(key) + 1
        elif key in _DAY_NAMES:
            value = _DAY_NAMES.index(key)
        else:
            hint = " (Celery takes '/' only after '*' or a range: '*/15', '5-59/15')" if "/" in token else ""
            raise _Bad(f"'{token}' is not a number, a day name or a month name{hint}") from None
    return _in_range(value, low, high)


def _step(text: str | None) -> int:
    if not text:
        raise _Bad("a step is missing after '/'")
    try:
        step = int(text)
    except ValueError:
        raise _Bad(f"step '{text}' is not a number") from None
    if step == 0:
        raise _Bad("a step of 0 never advances")
    return step


def _pattern(spec: str, low: int, high: int) -> set[int]:
    """The values a pattern names in ``low``-``high``, as Celery's ``crontab_parser(...).parse``."""
    values: set[int] = set()
    for part in spec.split(","):
        if not part:
            raise _Bad("an item of the list is empty")
        values.update(_part(part, low, high))
    return values


def _part(part: str, low: int, high: int) -> list[int]:
    # Celery ignores what follows a match ("1-5/2/3" is "1-5/2"); so does this, to accept what it accepts.
    if match := _RANGE_STEPS.match(part):
        first, last, step = match.groups()
        return _range(first, last, low, high)[:: _step(step)]
    if match := _RANGE.match(part):
        return _range(match.group(1), match.group(2), low, high)
    if match := _STAR_STEPS.match(part):
        return list(range(low, high + 1))[:: _step(match.group(1))]
    if _STAR.match(part):
        return list(range(low, high + 1))
    return [_number(part, low, high)]


def _range(first_text: str, last_text: str, low: int, high: int) -> list[int]:
    first, last = _number(first_text, low, high), _number(last_text, low, high)
    if last < first:  # wraps past the field's end: 22-2 is 22, 23, 0, 1, 2
        return list(range(first, high + 1)) + list(range(low, last + 1))
    return list(range(first, last + 1))


def _expand(field: _Field, spec: Cronspec | None) -> frozenset[int]:
    """A field's values, as Celery's ``_expand_cronspec``; InvalidSchedule names the field and its value."""
    try:
        if spec is None:  # Celery's cronfield(): None means '*'
            return field.everything
        if isinstance(spec, bool):
            raise _Bad("expected an int, a pattern string or a collection of ints, not a bool")
        if isinstance(spec, int):
            values = {spec}
        elif isinstance(spec, str):
            values = _pattern(spec, field.low, field.high)
        elif isinstance(spec, Iterable):
            values = set(spec)
            if any(isinstance(value, bool) or not isinstance(value, int) for value in values):
                raise _Bad("a collection must hold ints only")
            if not values:
                raise _Bad("an empty collection never fires")
        else:
            raise _Bad(f"expected an int, a pattern string or a collection of ints, not {type(spec).__name__}")
        for value in values:
            _in_range(value, field.low, field.high)
        return frozenset(values)
    except _Bad as problem:
        raise InvalidSchedule(f"crontab {field.name} {spec!r}: {problem}{field.hint}") from None


def _render(field: _Field, values: frozenset[int]) -> str:
    """A field's values in EventBridge's cron syntax: ``*``, an increment ``a/s`` when exact, else a list."""
    if values == field.everything:
        return "*"
    ordered = sorted(values)
    if field.increments and len(ordered) >= 3:
        # "a/s" runs from a to the field's end (AWS: 1/10 in minutes is 1, 11, 21, ...): exact only then.
        step = ordered[1] - ordered[0]
        if step > 1 and ordered == list(range(ordered[0], field.high + 1, step)):
            return f"{field.aws(ordered[0])}/{step}"
    items: list[str] = []
    start = previous = ordered[0]
    for value in [*ordered[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        if previous - start >= 2:
            items.append(f"{field.aws(start)}-{field.aws(previous)}")
        else:
            items.extend(field.aws(each) for each in range(start, previous + 1))
        if value is not None:
            start = previous = value
    return ",".join(items)


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
        self.minute = _expand(_MINUTE_FIELD, minute)
        self.hour = _expand(_HOUR, hour)
        self.day_of_week = _expand(_DAY_OF_WEEK, day_of_week)
        self.day_of_month = _expand(_DAY_OF_MONTH, day_of_month)
        self.month_of_year = _expand(_MONTH_OF_YEAR, month_of_year)
        if not any(day <= _DAYS_IN_MONTH[month] for month in self.month_of_year for day in self.day_of_month):
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
        by_month = self.day_of_month != _DAY_OF_MONTH.everything
        by_week = self.day_of_week != _DAY_OF_WEEK.everything
        if by_month and by_week:
            raise InvalidSchedule(
                f"{self!r}: Celery runs only on days matching both day_of_month {self._given['dom']!r} and day_of_week "
                f"{self._given['dow']!r}, which an EventBridge cron expression cannot say (it restricts one of "
                "them; two crontabs would run on days matching either): restrict one and check the other in the task"
            )
        day_of_month = _render(_DAY_OF_MONTH, self.day_of_month) if not by_week else "?"
        day_of_week = _render(_DAY_OF_WEEK, self.day_of_week) if by_week else "?"
        fields = (
            _render(_MINUTE_FIELD, self.minute),
            _render(_HOUR, self.hour),
            day_of_month,
            _render(_MONTH_OF_YEAR, self.month_of_year),
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
