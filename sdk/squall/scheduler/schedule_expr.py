"""EventBridge Scheduler schedule expressions: parse ``at()``, ``rate()`` and ``cron()`` (fire times: firings).

The grammar and its meaning follow the AWS documentation, which is the source of truth:

* Schedule types, time zones and daylight saving time on EventBridge Scheduler:
  https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html
* The cron field and wildcard table (shared by EventBridge Scheduler and EventBridge rules):
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html
* ``ScheduleExpression`` of CreateSchedule (``at(yyyy-mm-ddThh:mm:ss)``; a rate is a positive integer and
  one of ``minute | minutes | hour | hours | day | days``):
  https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html
* Daylight saving: a cron time that does not exist is skipped, one that occurs twice fires once, and a
  day of a rate is 24 hours: https://repost.aws/knowledge-center/eventbridge-scheduler-adjust-dst

Where the documentation is silent the module follows Quartz, the cron dialect EventBridge's derives from,
and says so at the spot: ``L-n``, ``LW`` and ``nL``; ranges that wrap (``FRI-MON``, ``22-2``); ``L``,
``W`` and ``#`` standing alone in their field; increments no larger than the field's maximum.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, TypeVar

from squall.errors import InvalidSchedule

__all__ = ["MAX_YEAR", "CronFields", "DayOfMonth", "DayOfWeek", "ScheduleExpression", "parse"]

MAX_YEAR = 2199  # the cron year field's maximum: nothing fires later, so every search stops there

Kind = Literal["at", "rate", "cron"]
_T = TypeVar("_T")

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # AWS numbers them 1-7: 1=SUN ... 7=SAT
_DIGITS = re.compile(r"[0-9]+")  # not str.isdigit(), which also takes '²' and other Unicode digits
_AT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    what: str  # how a valid value reads, for error messages
    wildcards: str  # the wildcards the AWS table allows in this field
    max_step: int  # Quartz rejects an increment above the field's maximum
    names: tuple[str, ...] = ()


_MINUTES = _Field("minutes", 0, 59, "a number 0-59", ", - * /", 59)
_HOURS = _Field("hours", 0, 23, "a number 0-23", ", - * /", 23)
_DOM = _Field("day-of-month", 1, 31, "a day 1-31", ", - * ? / L W", 31)
_MONTH = _Field("month", 1, 12, "a month name (JAN-DEC) or number 1-12", ", - * /", 12, _MONTH_NAMES)
_DOW = _Field("day-of-week", 1, 7, "a day name (SUN-SAT) or number 1-7", ", - * ? L #", 7, _DAY_NAMES)
_YEAR = _Field("year", 1970, MAX_YEAR, f"a year 1970-{MAX_YEAR}", ", - * /", MAX_YEAR - 1970)
_FIELDS = (_MINUTES, _HOURS, _DOM, _MONTH, _DOW, _YEAR)


class _Bad(Exception):
    """A field-level problem; the caller prefixes the expression, the field name and its text."""


def _nearest_weekday(year: int, month: int, day: int) -> int:
    """The weekday (Mon-Fri) nearest ``day`` of the month, never leaving the month (Quartz ``W``).

    A day past the month's end (``31W`` in April) is taken as the month's last day: an assumption, the
    AWS docs only say ``3W`` is "the weekday closest to the third day of the month".
    """
    last = calendar.monthrange(year, month)[1]
    day = min(day, last)
    weekday = date(year, month, day).weekday()
    if weekday == 5:  # Saturday: the Friday before, or the Monday after when the 1st is a Saturday
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: the Monday after, or the Friday before when it is the last day
        return day + 1 if day < last else day - 2
    return day


@dataclass(frozen=True)
class DayOfMonth:
    """The day-of-month field when it is not ``?``: plain days, or one of ``L``, ``L-n``, ``LW``, ``nW``."""

    days: frozenset[int] = frozenset()
    last_offset: int | None = None  # L is 0, L-3 is 3 (Quartz: the third-to-last day)
    nearest_weekday: int | None = None  # 15W is 15
    last_weekday: bool = False  # LW: the last Mon-Fri of the month (Quartz; accepted by EventBridge)

    def matches(self, day: date) -> bool:
        """Whether ``day`` satisfies this field."""
        last = calendar.monthrange(day.year, day.month)[1]
        if self.last_offset is not None:
            return day.day == last - self.last_offset
        if self.nearest_weekday is not None:
            return day.day == _nearest_weekday(day.year, day.month, self.nearest_weekday)
        if self.last_weekday:
            return day.day == _nearest_weekday(day.year, day.month, last)
        return day.day in self.days


@dataclass(frozen=True)
class DayOfWeek:
    """The day-of-week field when it is not ``?``: AWS day numbers (1=SUN), or ``n#k``, or ``nL``."""

    weekdays: frozenset[int] = frozenset()
    nth: tuple[int, int] | None = None  # 3#2 is (3, 2): the second Tuesday
    last: int | None = None  # 5L is 5: the last Thursday of the month

    def matches(self, day: date) -> bool:
        """Whether ``day`` satisfies this field."""
        weekday = (day.weekday() + 1) % 7 + 1  # AWS numbers 1=SUN ... 7=SAT; Python's weekday() 0=MON
        if self.nth is not None:
            return weekday == self.nth[0] and (day.day - 1) // 7 + 1 == self.nth[1]
        if self.last is not None:
            return weekday == self.last and day.day + 7 > calendar.monthrange(day.year, day.month)[1]
        return weekday in self.weekdays


@dataclass(frozen=True)
class CronFields:
    """The six parsed fields of a cron expression; exactly one of the two day fields is None (``?``)."""

    minutes: tuple[int, ...]  # sorted, so the fires of one day come out in order
    hours: tuple[int, ...]
    day_of_month: DayOfMonth | None
    months: frozenset[int]
    day_of_week: DayOfWeek | None
    years: frozenset[int]

    def matches_day(self, day: date) -> bool:
        """Whether the date fields (day of month or of week, month, year) allow ``day``."""
        if day.year not in self.years or day.month not in self.months:
            return False
        if self.day_of_month is not None:
            return self.day_of_month.matches(day)
        return self.day_of_week is None or self.day_of_week.matches(day)

    def matches(self, wall: datetime) -> bool:
        """Whether the wall-clock time ``wall`` (in the schedule's time zone) is on the schedule."""
        return wall.minute in self.minutes and wall.hour in self.hours and self.matches_day(wall.date())


@dataclass(frozen=True)
class ScheduleExpression:
    """A parsed schedule expression; ``str()`` gives its canonical text."""

    kind: Kind
    text: str  # as written
    canonical: str
    at: datetime | None = None  # naive: a wall-clock time in the schedule's time zone
    rate: timedelta | None = None
    cron: CronFields | None = None

    def __str__(self) -> str:
        return self.canonical


def _value(field: _Field, token: str) -> int:
    if _DIGITS.fullmatch(token):
        if field.low <= int(token) <= field.high:
            return int(token)
    elif token.upper() in field.names:
        return field.names.index(token.upper()) + 1
    raise _Bad(f"'{token}' is not {field.what}" if token else "a value is missing")


def _element(field: _Field, token: str) -> set[int]:
    """One list element: ``*``, ``v``, ``a-b``, each optionally with ``/step``."""
    base, slash, step_text = token.partition("/")
    step = 1
    if slash:
        if not _DIGITS.fullmatch(step_text) or not 1 <= int(step_text) <= field.max_step:
            raise _Bad(f"increment '{step_text}' is not a number 1-{field.max_step}")
        step = int(step_text)
    if base == "*":
        start, end = field.low, field.high
    elif "-" in base:
        first, _, second = base.partition("-")
        start, end = _value(field, first), _value(field, second)
        if start > end and field is _YEAR:  # Quartz: "start year must be less than stop year"
            raise _Bad(f"range '{base}' runs backwards")
    else:
        start = _value(field, base)
        end = field.high if slash else start  # "5/15" is 5, 20, 35, 50: from 5 to the field's end
    # A range whose start is after its end wraps past the field's maximum (Quartz: FRI-MON, 22-2).
    size = field.high - field.low + 1
    return {field.low + (start - field.low + k) % size for k in range(0, (end - start) % size + 1, step)}


def _plain(field: _Field, raw: str) -> frozenset[int]:
    values: set[int] = set()
    for token in raw.split(","):
        values |= _element(field, token)
    return frozenset(values)


def _day_of_month(raw: str) -> DayOfMonth | None:
    if raw == "?":
        return None
    upper = raw.upper()
    if "L" not in upper and "W" not in upper:
        return DayOfMonth(days=_plain(_DOM, raw))
    # Quartz allows L, L-n, LW and nW only as the whole field, never in a list, range or increment.
    special = re.fullmatch(r"L(?:-([0-9]+))?|LW|([0-9]+)W", upper)
    if special is None:
        raise _Bad("'L' and 'W' take the forms L, L-n, LW and nW (e.g. 15W), alone in the field")
    offset, nearest = special.groups()
    if upper == "LW":
        return DayOfMonth(last_weekday=True)
    if nearest is not None:
        return DayOfMonth(nearest_weekday=_value(_DOM, nearest))
    if offset is not None and not 1 <= int(offset) <= 30:
        raise _Bad(f"'L-{offset}': the offset from the last day is not a number 1-30")
    return DayOfMonth(last_offset=int(offset or 0))


def _day_of_week(raw: str) -> DayOfWeek | None:
    if raw == "?":
        return None
    upper = raw.upper()
    if "#" in upper:
        # AWS docs: with '#' only one expression is allowed, "3#1,6#3" is invalid.
        if "," in upper:
            raise _Bad("'#' allows one expression only (e.g. 3#2), not a list")
        day, _, nth = upper.partition("#")
        if not _DIGITS.fullmatch(nth) or not 1 <= int(nth) <= 5:
            raise _Bad(f"'{nth}' after '#' is not a week of the month 1-5")
        return DayOfWeek(nth=(_value(_DOW, day), int(nth)))
    if "L" in upper:  # no day name contains an L, so this is the wildcard
        last = re.fullmatch(r"([0-9]+|[A-Z]+)?L", upper)
        if last is None:
            raise _Bad("'L' takes the forms L and nL (e.g. 6L, the last Friday), alone in the field")
        if last.group(1) is None:  # AWS docs: in day-of-week, L is "the last day of the week", Saturday
            return DayOfWeek(weekdays=frozenset({7}))
        return DayOfWeek(last=_value(_DOW, last.group(1)))
    return DayOfWeek(weekdays=_plain(_DOW, raw))


def _guarded(text: str, field: _Field, raw: str, parse_field: Callable[[str], _T]) -> _T:
    """Parse one cron field, turning a problem into InvalidSchedule naming the field and its text."""
    try:
        for char in "?/#":
            if char in raw and char not in field.wildcards:
                raise _Bad(f"'{char}' is not allowed here (the {field.name} field takes {field.wildcards})")
        if "?" in raw and raw != "?":
            raise _Bad("'?' must stand alone")
        return parse_field(raw)
    except _Bad as problem:
        raise InvalidSchedule(f"{text}: {field.name} field '{raw}': {problem}") from None


def _parse_cron(text: str, body: str) -> tuple[CronFields, str]:
    parts = body.split()
    if len(parts) != len(_FIELDS):
        raise InvalidSchedule(
            f"{text}: expected 6 fields (minutes hours day-of-month month day-of-week year), got {len(parts)}"
        )
    minutes = _guarded(text, _MINUTES, parts[0], lambda raw: tuple(sorted(_plain(_MINUTES, raw))))
    hours = _guarded(text, _HOURS, parts[1], lambda raw: tuple(sorted(_plain(_HOURS, raw))))
    day_of_month = _guarded(text, _DOM, parts[2], _day_of_month)
    months = _guarded(text, _MONTH, parts[3], lambda raw: _plain(_MONTH, raw))
    day_of_week = _guarded(text, _DOW, parts[4], _day_of_week)
    years = _guarded(text, _YEAR, parts[5], lambda raw: _plain(_YEAR, raw))
    # AWS docs: "You can't specify the Day-of-month and Day-of-week fields in the same cron expression.
    # If you specify a value or a * (asterisk) in one of the fields, you must use a ? in the other."
    if (day_of_month is None) == (day_of_week is None):
        raise InvalidSchedule(
            f"{text}: day-of-month field '{parts[2]}' and day-of-week field '{parts[4]}': "
            "exactly one of them must be '?'"
        )
    fields = CronFields(minutes, hours, day_of_month, months, day_of_week, years)
    return fields, f"cron({' '.join(part.upper() for part in parts)})"


def _parse_rate(text: str, body: str) -> tuple[timedelta, str]:
    words = body.split()
    if len(words) != 2:
        raise InvalidSchedule(f"{text}: expected rate(value unit), e.g. rate(5 minutes)")
    value_text, unit = words
    if not _DIGITS.fullmatch(value_text) or int(value_text) < 1:
        raise InvalidSchedule(f"{text}: value '{value_text}' is not a positive integer")
    value, singular = int(value_text), unit.removesuffix("s")
    if singular not in ("minute", "hour", "day"):
        raise InvalidSchedule(f"{text}: unit '{unit}' is not one of minute, minutes, hour, hours, day, days")
    # AWS rejects rate(1 minutes) and rate(5 minute): the unit's number must agree with the value.
    if value == 1 and unit != singular:
        raise InvalidSchedule(f"{text}: unit '{unit}' must be singular for value 1: '{singular}'")
    if value > 1 and unit == singular:
        raise InvalidSchedule(f"{text}: unit '{unit}' must be plural for value {value}: '{unit}s'")
    interval = timedelta(**{f"{singular}s": value})  # a day is 24 hours, whatever DST does (AWS re:Post)
    return interval, f"rate({value} {unit})"


def _parse_at(text: str, body: str) -> datetime:
    # No time zone suffix: the schedule's time zone is a separate setting (ScheduleExpressionTimezone).
    match = _AT.fullmatch(body)
    if match is None:
        raise InvalidSchedule(f"{text}: '{body}' is not yyyy-mm-ddThh:mm:ss (without a time zone suffix)")
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        return datetime(year, month, day, hour, minute, second)  # naive: a wall-clock time
    except ValueError as problem:
        raise InvalidSchedule(f"{text}: '{body}' is not a valid date and time ({problem})") from None


def parse(expression: str) -> ScheduleExpression:
    """Parse an EventBridge Scheduler expression: ``at(...)``, ``rate(...)`` or ``cron(...)``.

    Raises InvalidSchedule, whose message names the offending field and its value.
    """
    match = re.fullmatch(r"(at|rate|cron)\((.*)\)", expression, re.DOTALL)
    if match is None:
        raise InvalidSchedule(
            f"'{expression}' is not a schedule expression: expected at(yyyy-mm-ddThh:mm:ss), "
            "rate(value unit) or cron(minutes hours day-of-month month day-of-week year)"
        )
    kind, body = match.group(1), match.group(2)
    if kind == "cron":
        fields, canonical = _parse_cron(expression, body)
        return ScheduleExpression("cron", expression, canonical, cron=fields)
    if kind == "rate":
        interval, canonical = _parse_rate(expression, body)
        return ScheduleExpression("rate", expression, canonical, rate=interval)
    when = _parse_at(expression, body)
    return ScheduleExpression("at", expression, f"at({when.isoformat()})", at=when)
