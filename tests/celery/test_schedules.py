"""squall.celery.schedules: Celery's crontab and schedule become EventBridge expressions that fire as Celery does.

Celery's own code is the oracle: its ``crontab.remaining_estimate`` (what beat calls to decide when an entry is
due) gives each next run, chained run after run, and Squall's ``preview`` gives the expression's firings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import celery.schedules  # binds `celery` too; `import celery` alone would sort as tests/celery, first-party
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.celery.schedules import crontab, expression_for, schedule, schedule_name, solar
from squall.errors import InvalidSchedule
from squall.scheduler.firings import preview
from squall.scheduler.schedule_expr import MAX_YEAR, parse
from squall.scheduler.scheduling import MAX_NAME_CHARS, check_expression, valid_name

QUICK = settings(max_examples=60, deadline=None, database=None)
FIRINGS = 50
JAN_1_2026 = datetime(2026, 1, 1, tzinfo=UTC)
ODD_START = datetime(2026, 2, 27, 13, 37, 20, tzinfo=UTC)  # mid-minute, near a month's end
CELERY_REFUSES = (ValueError, TypeError, celery.schedules.ParseException)


@dataclass
class Clock:
    """The "now" Celery's schedule reads through ``nowfun``."""

    moment: datetime


def celery_app(timezone: str) -> celery.Celery:
    app = celery.Celery("beat-oracle", set_as_current=False)
    app.conf.timezone = timezone
    app.conf.enable_utc = True
    return app


def celery_firings(
    spec: Mapping[str, Any], start: datetime, count: int = FIRINGS, timezone: str = "UTC"
) -> list[datetime]:
    """The next ``count`` runs Celery's beat makes of ``crontab(**spec)`` after ``start``, until EventBridge's MAX_YEAR.

    Beat runs an entry when ``remaining_estimate(last_run_at)`` reaches zero; each run becomes the next
    ``last_run_at``, so the chain of ``last_run_at + remaining_estimate`` at ``now == last_run_at`` is the runs.
    """
    clock = Clock(start)
    oracle = celery.schedules.crontab(**spec, nowfun=lambda: clock.moment, app=celery_app(timezone))
    fires: list[datetime] = []
    while len(fires) < count:
        fire = (clock.moment + oracle.remaining_estimate(clock.moment)).astimezone(UTC)
        if fire.year > MAX_YEAR:
            break
        fires.append(fire)
        clock.moment = fire
    return fires


def squall_firings(
    spec: Mapping[str, Any], start: datetime, count: int = FIRINGS, timezone: str = "UTC"
) -> list[datetime]:
    return preview(crontab(**spec).to_expression(), timezone, start, count)


# --- crontabs fire at Celery's minutes -------------------------------------------------------------------

COMMON: list[tuple[dict[str, Any], str]] = [
    ({}, "cron(* * * * ? *)"),
    ({"minute": "*/15"}, "cron(0/15 * * * ? *)"),
    ({"minute": 0, "hour": "*/3"}, "cron(0 0/3 * * ? *)"),
    ({"minute": 0, "hour": 9, "day_of_week": "mon-fri"}, "cron(0 9 ? * MON-FRI *)"),
    ({"minute": 0, "hour": 0, "day_of_month": 1}, "cron(0 0 1 * ? *)"),
    ({"minute": 0, "hour": 0, "day_of_month": 1, "month_of_year": "*/3"}, "cron(0 0 1 1/3 ? *)"),
    ({"minute": "0,30", "hour": "8-17"}, "cron(0,30 8-17 * * ? *)"),
    ({"minute": [0, 30], "hour": {9, 17}}, "cron(0,30 9,17 * * ? *)"),
    ({"minute": 5, "hour": range(9, 18)}, "cron(5 9-17 * * ? *)"),
    ({"minute": "1,13,30-45,50-59/2"}, "cron(1,13,30-45,50,52,54,56,58 * * * ? *)"),
    ({"minute": 0, "hour": "0,8-17/2"}, "cron(0 0,8,10,12,14,16 * * ? *)"),
    ({"minute": 0, "hour": "22-2"}, "cron(0 0-2,22,23 * * ? *)"),
    ({"minute": 0, "hour": 0, "day_of_week": 0}, "cron(0 0 ? * SUN *)"),
    ({"minute": 0, "hour": 0, "day_of_week": "sun"}, "cron(0 0 ? * SUN *)"),
    ({"minute": 0, "hour": 0, "day_of_week": "sunday"}, "cron(0 0 ? * SUN *)"),
    ({"minute": 0, "hour": 0, "day_of_week": {0, 6}}, "cron(0 0 ? * SUN,SAT *)"),
    ({"minute": 0, "hour": 0, "day_of_week": "fri-mon"}, "cron(0 0 ? * SUN,MON,FRI,SAT *)"),
    ({"minute": 0, "hour": 0, "day_of_week": "*/2"}, "cron(0 0 ? * SUN,TUE,THU,SAT *)"),
    ({"minute": 0, "hour": 0, "day_of_month": "2-30/2"}, "cron(0 0 2/2 * ? *)"),
    ({"minute": 0, "hour": 0, "day_of_month": "*/3"}, "cron(0 0 1/3 * ? *)"),
    ({"minute": 0, "hour": 0, "day_of_month": 31}, "cron(0 0 31 * ? *)"),
    ({"minute": 0, "hour": 12, "day_of_month": 29, "month_of_year": 2}, "cron(0 12 29 2 ? *)"),
    ({"minute": 0, "hour": 0, "day_of_month": 1, "month_of_year": "jan,jul"}, "cron(0 0 1 1,7 ? *)"),
    ({"minute": 0, "hour": 0, "day_of_month": 15, "month_of_year": "2-12/2"}, "cron(0 0 15 2/2 ? *)"),
    ({"minute": 30, "hour": 4, "day_of_week": "mon,wed,fri", "month_of_year": "6-8"}, "cron(30 4 ? 6-8 MON,WED,FRI *)"),
]


@pytest.mark.parametrize(("spec", "expression"), COMMON, ids=[expression for _, expression in COMMON])
def test_a_common_crontab_becomes_a_compact_expression_that_fires_as_celery_does(
    spec: dict[str, Any], expression: str
) -> None:
    # given a crontab as a Celery project declares it
    # when it is translated
    translated = crontab(**spec).to_expression()
    # then the expression is compact, valid for a periodic schedule, and fires at Celery's minutes
    assert translated == expression
    check_expression(translated, recurring=True)
    for start in (JAN_1_2026, ODD_START):
        assert squall_firings(spec, start) == celery_firings(spec, start)


def test_a_crontab_from_a_cron_string_reads_its_fields_in_cron_order_as_celery_does() -> None:
    # given the same crontab written as a string and as fields (Celery's positional order: minute, hour, day_of_week)
    # when each is read
    # then they are equal and translate alike
    assert crontab.from_string("*/15 9-17 * * mon-fri") == crontab("*/15", "9-17", "mon-fri")
    assert crontab.from_string("*/15 9-17 * * mon-fri").to_expression() == "cron(0/15 9-17 ? * MON-FRI *)"


def test_nowfun_and_app_are_accepted_and_change_nothing() -> None:
    # given a crontab built with the Celery-only arguments
    # when it is translated
    # then it is the same as without them
    assert crontab(minute=0, nowfun=lambda: JAN_1_2026, app=object()).to_expression() == "cron(0 * * * ? *)"


# Random field specs in Celery's grammar; one of the two day fields at most is restricted (EventBridge's limit).
def field_spec(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
    number = st.integers(low, high).map(str)
    if names:
        number = number | st.sampled_from(names)
    element = st.one_of(
        number,
        st.tuples(number, number).map("-".join),
        st.tuples(number, number, st.integers(1, high)).map(lambda t: f"{t[0]}-{t[1]}/{t[2]}"),
        st.integers(1, high).map(lambda step: f"*/{step}"),
    )
    return st.one_of(
        st.just("*"),
        st.integers(low, high),
        st.sets(st.integers(low, high), min_size=1, max_size=6),
        st.lists(element, min_size=1, max_size=3).map(",".join),
    )


DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


@st.composite
def expressible_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "minute": draw(field_spec(0, 59)),
        "hour": draw(field_spec(0, 23)),
        "month_of_year": draw(field_spec(1, 12, MONTHS)),
    }
    restricted = draw(st.sampled_from(["day_of_month", "day_of_week", None]))
    if restricted == "day_of_month":
        spec["day_of_month"] = draw(field_spec(1, 31))
    elif restricted == "day_of_week":
        spec["day_of_week"] = draw(field_spec(0, 6, DAYS))
    return spec


@QUICK
@given(
    spec=expressible_specs(),
    start=st.datetimes(datetime(2026, 1, 1), datetime(2030, 12, 31)).map(lambda moment: moment.replace(tzinfo=UTC)),
)
def test_any_crontab_eventbridge_can_express_fires_as_celery_does(spec: dict[str, Any], start: datetime) -> None:
    # given a random crontab restricting at most one of the day fields
    try:
        celery.schedules.crontab(**spec)
    except ValueError:
        # (its days never occur in its months: Celery refuses it, and so must Squall)
        with pytest.raises(InvalidSchedule, match="never occurs"):
            crontab(**spec)
        return
    # when it is translated, then its next firings are Celery's runs
    assert squall_firings(spec, start) == celery_firings(spec, start)


# Celery's grammar, including its oddities (prefix matches, names in any field, int()'s "1_0"), on token soup.
PATTERN_TOKENS = ["*", "-", "/", ",", "0", "1", "2", "5", "7", "12", "13", "23", "24", "31", "59", "60"]
PATTERN_TOKENS += ["mon", "sunday", "Fri", "jan", "mar", "dec", "x", "1_0", " "]
PATTERN_TEXT = st.lists(st.sampled_from(PATTERN_TOKENS), min_size=1, max_size=6).map("".join)


@pytest.mark.parametrize("field", ["minute", "hour", "day_of_week", "day_of_month", "month_of_year"])
@QUICK
@given(text=PATTERN_TEXT)
def test_a_field_pattern_means_what_celery_reads_it_as_or_is_refused_as_celery_refuses_it(
    field: str, text: str
) -> None:
    # given any short text as one crontab field
    # when Celery and Squall read it
    try:
        expected = getattr(celery.schedules.crontab(**{field: text}), field)
    except CELERY_REFUSES:
        # then both refuse it ...
        with pytest.raises(InvalidSchedule, match=field):
            crontab(**{field: text})
        return
    # ... or both expand it to the same values
    assert getattr(crontab(**{field: text}), field) == expected


# --- what EventBridge cannot say, and bad fields ---------------------------------------------------------


def test_restricting_both_day_fields_is_refused_and_says_what_to_do() -> None:
    # given a crontab that runs on the 1st of the month only when it is a Monday (Celery ANDs the day fields)
    both = crontab(minute=0, hour=9, day_of_month=1, day_of_week="mon")
    # when it is translated, then it is refused with a line naming both fields and the way out
    with pytest.raises(InvalidSchedule, match="both day_of_month 1 and day_of_week 'mon'") as refused:
        both.to_expression()
    assert "restrict one and check the other in the task" in str(refused.value)
    assert "\n" not in str(refused.value)
    # and a beat entry with it is refused naming the entry
    with pytest.raises(InvalidSchedule, match="beat schedule 'first monday'"):
        expression_for(both, name="first monday")


BAD_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"day_of_week": 7}, r"day_of_week 7: 7 is outside 0-6 .*Sunday is 0 or 'sun'"),
    ({"day_of_week": "1-7"}, r"day_of_week '1-7': 7 is outside 0-6"),
    ({"day_of_week": "noday"}, r"day_of_week 'noday': 'noday' is not a number, a day name or a month name"),
    ({"hour": 24}, r"hour 24: 24 is outside 0-23"),
    ({"minute": 60}, r"minute 60: 60 is outside 0-59"),
    ({"minute": "*/0"}, r"minute '\*/0': a step of 0"),
    ({"minute": "*/"}, r"minute '\*/': a step is missing"),
    ({"minute": "5/15"}, r"minute '5/15': .*'/' only after '\*' or a range"),
    ({"minute": "1,,2"}, r"minute '1,,2': an item of the list is empty"),
    ({"minute": "-5"}, r"minute '-5': '-5' is negative"),
    ({"minute": 1.5}, r"minute 1.5: expected an int, a pattern string or a collection of ints, not float"),
    ({"minute": ["5"]}, r"minute \['5'\]: a collection must hold ints only"),
    ({"day_of_month": 0}, r"day_of_month 0: 0 is outside 1-31"),
    ({"month_of_year": 13}, r"month_of_year 13: 13 is outside 1-12"),
    ({"day_of_month": 30, "month_of_year": 2}, r"day_of_month 30 never occurs in month_of_year 2"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_FIELDS, ids=[repr(spec) for spec, _ in BAD_FIELDS])
def test_a_bad_field_is_refused_in_one_line_naming_the_field_as_celery_refuses_it(
    spec: dict[str, Any], message: str
) -> None:
    # given a field value Celery refuses
    with pytest.raises(CELERY_REFUSES):
        celery.schedules.crontab(**spec)
    # when Squall reads it, then it is refused with one line naming the field and its value
    with pytest.raises(InvalidSchedule, match=message) as refused:
        crontab(**spec)
    assert "\n" not in str(refused.value)


def test_a_bool_field_is_refused_where_celery_would_read_true_as_1() -> None:
    # given minute=True (Celery counts it as the int 1: surely a mistake)
    # when Squall reads it, then it is refused
    with pytest.raises(InvalidSchedule, match="not a bool"):
        crontab(minute=True)


def test_solar_is_refused_when_created() -> None:
    # given a solar schedule, when it is created, then it is refused saying EventBridge has none
    with pytest.raises(InvalidSchedule, match=r"solar.*not supported"):
        solar("sunrise", -37.81, 144.96)


# --- intervals ---------------------------------------------------------------------------------------------

RATES: list[tuple[object, str]] = [
    (60, "rate(1 minute)"),
    (60.0, "rate(1 minute)"),
    (timedelta(seconds=60), "rate(1 minute)"),
    (schedule(60), "rate(1 minute)"),
    (300, "rate(5 minutes)"),
    (timedelta(minutes=90), "rate(90 minutes)"),
    (timedelta(hours=2), "rate(2 hours)"),
    (schedule(run_every=timedelta(hours=36)), "rate(36 hours)"),
    (86_400, "rate(1 day)"),
    (timedelta(days=7), "rate(7 days)"),
]


@pytest.mark.parametrize(("value", "expression"), RATES, ids=[expression for _, expression in RATES])
def test_a_whole_number_of_minutes_becomes_an_exact_rate_as_long_as_celerys_interval(
    value: object, expression: str
) -> None:
    # given a beat entry's interval
    # when it is translated
    translated = expression_for(value, name="tick")
    # then it is the rate in the largest exact unit, and its interval is Celery's
    assert translated == expression
    interval = value.run_every if isinstance(value, schedule) else value
    oracle = celery.schedules.schedule(interval, nowfun=lambda: JAN_1_2026, app=celery_app("UTC"))
    assert check_expression(translated, recurring=True).rate == oracle.remaining_estimate(JAN_1_2026)


@QUICK
@given(minutes=st.integers(1, 10_000_000))
def test_every_whole_number_of_minutes_is_a_rate_of_exactly_that_interval(minutes: int) -> None:
    # given any whole number of minutes, when it is translated, then the rate's interval is exactly it
    assert parse(expression_for(timedelta(minutes=minutes), name="tick")).rate == timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("value", "shown"), [(10, "10 s"), (timedelta(seconds=90), "90 s"), (60.5, "60.5 s"), (schedule(30), "30 s")]
)
def test_an_interval_that_is_not_whole_minutes_is_refused_naming_the_entry(value: object, shown: str) -> None:
    # given a beat entry every few seconds (or minutes and seconds)
    # when it is translated, then it is refused naming the entry and the interval, suggesting 60 s or a crontab
    with pytest.raises(InvalidSchedule, match=f"beat schedule 'add every 10 seconds': every {shown}") as refused:
        expression_for(value, name="add every 10 seconds")
    assert "whole number of minutes" in str(refused.value)
    assert "60 s" in str(refused.value)
    assert "crontab" in str(refused.value)


@pytest.mark.parametrize("value", [0, -60, timedelta(minutes=-5)])
def test_an_interval_that_is_not_positive_is_refused(value: object) -> None:
    # given a zero or negative interval, when it is translated, then it is refused
    with pytest.raises(InvalidSchedule, match="must be positive"):
        expression_for(value, name="tick")


@pytest.mark.parametrize("value", ["every minute", None, True, float("nan"), celery.schedules.crontab()])
def test_anything_else_as_a_beat_schedule_is_refused_naming_the_entry(value: object) -> None:
    # given a value that is no schedule Squall knows (Celery's own crontab too: the import was not rewritten)
    # when it is translated, then it is refused naming the entry
    with pytest.raises(InvalidSchedule, match=r"beat schedule 'tick': .* is not a squall\.celery\.schedules crontab"):
        expression_for(value, name="tick")


def test_a_relative_schedule_is_refused_pointing_to_a_crontab() -> None:
    # given schedule(relative=True) (runs rounded to the clock), when it is created, then it is refused
    with pytest.raises(InvalidSchedule, match=r"relative=True.*crontab\(minute=0\)"):
        schedule(timedelta(hours=1), relative=True)


# --- time zones ----------------------------------------------------------------------------------------------


def test_a_time_that_daylight_saving_skips_runs_an_hour_late_in_celery_and_not_at_all_on_eventbridge() -> None:
    # given 02:30 every day in Berlin, and the nights clocks go forward (29 March) and back (25 October) in 2026
    spec = {"minute": 30, "hour": 2}
    berlin = "Europe/Berlin"
    spring, autumn = datetime(2026, 3, 28, 12, tzinfo=UTC), datetime(2026, 10, 24, 12, tzinfo=UTC)
    # when both schedule it, then on 29 March Celery runs at 03:30 CEST (01:30 UTC) and EventBridge skips the day
    assert celery_firings(spec, spring, 2, berlin) == [
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
    ]
    assert squall_firings(spec, spring, 1, berlin) == [datetime(2026, 3, 30, 0, 30, tzinfo=UTC)]
    # and the 02:30 that occurs twice on 25 October runs once under both, the first time
    assert squall_firings(spec, autumn, 3, berlin) == celery_firings(spec, autumn, 3, berlin)


# --- names ---------------------------------------------------------------------------------------------------


def test_a_beat_name_with_spaces_becomes_a_valid_schedule_name_with_a_hash() -> None:
    # given Celery's usual beat entry names, when they are named for Squall
    name = schedule_name("add every 10 seconds")
    # then spaces become underscores and a hash keeps it apart from the name written with underscores
    assert valid_name(name)
    assert name.startswith("add_every_10_seconds-")
    assert name == schedule_name("add every 10 seconds")
    assert schedule_name("add_every_10_seconds") == "add_every_10_seconds"
    assert name != schedule_name("add every 10 seconds ")


def test_a_long_beat_name_keeps_its_start_and_gains_a_hash() -> None:
    # given two long names differing only at the end, when they are named, then both fit and differ
    first, second = schedule_name("nightly " + "x" * 80 + " a"), schedule_name("nightly " + "x" * 80 + " b")
    assert len(first) == MAX_NAME_CHARS
    assert first.startswith("nightly_x")
    assert first != second


@QUICK
@given(names=st.lists(st.text(max_size=80), min_size=2, max_size=20, unique=True))
def test_any_beat_names_become_distinct_valid_schedule_names(names: list[str]) -> None:
    # given any distinct beat entry names, when they are named, then each is valid and no two meet
    named = [schedule_name(name) for name in names]
    assert all(valid_name(name) for name in named)
    assert len(set(named)) == len(names)
