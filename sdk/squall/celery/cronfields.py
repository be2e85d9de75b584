"""Celery's crontab fields: each read as Celery's ``crontab_parser`` reads it, and written in EventBridge's cron syntax.

:func:`expand` turns a field's spec (an int, a pattern string such as ``*``, ``5``, ``0,30``, ``1-5``, ``22-2``
wrapping, ``*/15``, ``1-10/2``, day and month names read by their first three letters, or a collection of ints)
into the set of values Celery would fire at, refusing what Celery refuses with InvalidSchedule naming the field;
:func:`render` writes a set of values as an EventBridge cron field that fires at exactly those values. The
crontab itself, and what a whole expression may say, is :mod:`squall.celery.schedules`'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

from squall.errors import InvalidSchedule

__all__ = [
    "DAYS_IN_MONTH",
    "DAY_OF_MONTH",
    "DAY_OF_WEEK",
    "HOUR",
    "MINUTE",
    "MONTH_OF_YEAR",
    "Cronspec",
    "Field",
    "expand",
    "render",
]

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


class _Bad(Exception):
    """A field-level problem; :func:`expand` prefixes the field's name and value."""


@dataclass(frozen=True)
class Field:
    """One crontab field: its values in Celery's numbers, and how EventBridge writes them."""

    name: str  # Celery's argument name
    low: int  # Celery's smallest and largest values
    high: int
    increments: bool  # whether EventBridge allows '/' in this field (not in day-of-week)
    names: tuple[str, ...] = ()  # how EventBridge writes each value, by Celery's number, if not as a number
    hint: str = ""

    @property
    def everything(self) -> frozenset[int]:
        """Every value of the field (what ``*`` names)."""
        return frozenset(range(self.low, self.high + 1))

    def aws(self, value: int) -> str:
        """One value as EventBridge writes it (day_of_week 0, Sunday, is SUN: EventBridge numbers it 1)."""
        return self.names[value - self.low] if self.names else str(value)


MINUTE = Field("minute", 0, 59, increments=True)
HOUR = Field("hour", 0, 23, increments=True)
DAY_OF_WEEK = Field(
    "day_of_week",
    0,
    6,
    increments=False,
    names=_AWS_DAY_NAMES,
    hint=" (Celery counts 0 = Sunday to 6 = Saturday: Sunday is 0 or 'sun')",
)
DAY_OF_MONTH = Field("day_of_month", 1, 31, increments=True)
MONTH_OF_YEAR = Field("month_of_year", 1, 12, increments=True)
# Celery refuses a crontab whose days never occur in its months, counting February's 29th (leap years).
DAYS_IN_MONTH = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


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


def expand(field: Field, spec: Cronspec | None) -> frozenset[int]:
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


def render(field: Field, values: frozenset[int]) -> str:
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
