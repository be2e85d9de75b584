"""EventBridge Scheduler expressions: the grammar, its error messages, and the fire times preview gives.

Expected fire times are worked out by hand from the AWS docs (schedule-types, eb-cron-expressions) and a
calendar; the property tests check preview against a minute-by-minute oracle.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.errors import InvalidSchedule
from squall.scheduler.firings import next_fire_after, preview
from squall.scheduler.schedule_expr import ScheduleExpression, parse

JAN_1_2026 = datetime(2026, 1, 1, tzinfo=UTC)
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# Zones with ordinary, half-hour and southern-hemisphere daylight saving, and odd fixed offsets.
ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/St_Johns",
    "Pacific/Chatham",
)
QUICK = settings(max_examples=60, deadline=None, database=None)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def fires(expression: str, tz: str = "UTC", start: datetime = JAN_1_2026, count: int = 5) -> list[datetime]:
    return preview(expression, tz, start, count)


def days_of(expression: str, count: int = 5, start: datetime = JAN_1_2026) -> list[date]:
    return [fire.date() for fire in fires(expression, start=start, count=count)]


# --- grammar: what parses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 10 * * ? *)",
        "cron(15 12 * * ? *)",
        "cron(0 18 ? * MON-FRI *)",
        "cron(0 8 1 * ? *)",
        "cron(0/15 * * * ? *)",
        "cron(*/5 * * * ? *)",
        "cron(5-30/5 * * * ? *)",
        "cron(1/10 * * * ? *)",
        "cron(0 0/2 * * ? *)",
        "cron(0 22-2 * * ? *)",
        "cron(0,15,30,45 9-17 ? * MON-FRI *)",
        "cron(0 0 1-15 * ? *)",
        "cron(0 0 */2 * ? *)",
        "cron(0 0 1 JAN,APR,JUL,OCT ? *)",
        "cron(0 0 1 1-6/2 ? *)",
        "cron(0 0 1 jan-Mar ? *)",
        "cron(0 9 ? * 2#1 *)",
        "cron(0 9 ? * mon#5 *)",
        "cron(15 10 ? * 6L *)",
        "cron(15 10 ? * FRIL *)",
        "cron(0 0 ? * L *)",
        "cron(0 0 ? * FRI-MON *)",
        "cron(0 0 ? * 1,7 *)",
        "cron(0 12 L * ? *)",
        "cron(0 12 L-3 * ? *)",
        "cron(0 12 LW * ? *)",
        "cron(0 9 15W * ? *)",
        "cron(0 9 1W * ? *)",
        "cron(0 0 1 1 ? 2026-2030)",
        "cron(0 0 1 1 ? 2020/5)",
        "cron(0 0 1 1 ? 1970,2199)",
        "cron(05 09 01 01 ? *)",
        "rate(1 minute)",
        "rate(5 minutes)",
        "rate(1 hour)",
        "rate(12 hours)",
        "rate(1 day)",
        "rate(7 days)",
        "at(2026-02-28T09:30:00)",
        "at(2028-02-29T23:59:59)",
    ],
)
def test_valid_expression_parses(expression: str) -> None:
    parsed = parse(expression)
    assert parsed.kind == expression.split("(")[0]
    assert parsed.text == expression
    assert parse(str(parsed)) == dataclasses.replace(parsed, text=str(parsed))


# --- grammar: what does not, and the message names the field --------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        # field count
        ("cron(0 0 * * ?)", "expected 6 fields (minutes hours day-of-month month day-of-week year), got 5"),
        ("cron(0 0 * * ? * *)", "got 7"),
        ("cron()", "got 0"),
        # minutes
        ("cron(60 * * * ? *)", "minutes field '60': '60' is not a number 0-59"),
        ("cron(-1 * * * ? *)", "minutes field '-1': a value is missing"),
        ("cron(a * * * ? *)", "minutes field 'a': 'a' is not a number 0-59"),
        ("cron(L * * * ? *)", "minutes field 'L': 'L' is not a number 0-59"),
        ("cron(0/0 * * * ? *)", "minutes field '0/0': increment '0' is not a number 1-59"),
        ("cron(0/60 * * * ? *)", "minutes field '0/60': increment '60' is not a number 1-59"),
        ("cron(0/x * * * ? *)", "minutes field '0/x': increment 'x'"),
        ("cron(1,,2 * * * ? *)", "minutes field '1,,2': a value is missing"),
        ("cron(1#2 * * * ? *)", "minutes field '1#2': '#' is not allowed here"),
        ("cron(? * * * ? *)", "minutes field '?': '?' is not allowed here"),
        ("cron(0² * * * ? *)", "minutes field '0²'"),
        # hours
        ("cron(0 24 * * ? *)", "hours field '24': '24' is not a number 0-23"),
        ("cron(0 9-25 * * ? *)", "hours field '9-25': '25' is not a number 0-23"),
        ("cron(0 */24 * * ? *)", "hours field '*/24': increment '24' is not a number 1-23"),
        ("cron(0 ? * * ? *)", "hours field '?': '?' is not allowed here"),
        # day-of-month
        ("cron(0 0 0 * ? *)", "day-of-month field '0': '0' is not a day 1-31"),
        ("cron(0 0 32 * ? *)", "day-of-month field '32': '32' is not a day 1-31"),
        ("cron(0 0 MON * ? *)", "day-of-month field 'MON': 'MON' is not a day 1-31"),
        ("cron(0 0 32W * ? *)", "day-of-month field '32W': '32' is not a day 1-31"),
        ("cron(0 0 0W * ? *)", "day-of-month field '0W': '0' is not a day 1-31"),
        ("cron(0 0 W * ? *)", "day-of-month field 'W': 'L' and 'W' take the forms"),
        ("cron(0 0 L,15 * ? *)", "day-of-month field 'L,15': 'L' and 'W' take the forms"),
        ("cron(0 0 1W-5 * ? *)", "day-of-month field '1W-5'"),
        ("cron(0 0 L-31 * ? *)", "day-of-month field 'L-31': 'L-31': the offset from the last day"),
        ("cron(0 0 L-0 * ? *)", "day-of-month field 'L-0'"),
        ("cron(0 0 1#2 * ? *)", "day-of-month field '1#2': '#' is not allowed here"),
        ("cron(0 0 1,? * ? *)", "day-of-month field '1,?': '?' must stand alone"),
        # month
        ("cron(0 0 1 0 ? *)", "month field '0': '0' is not a month name (JAN-DEC) or number 1-12"),
        ("cron(0 0 1 13 ? *)", "month field '13': '13' is not a month name (JAN-DEC) or number 1-12"),
        ("cron(0 0 1 FOO ? *)", "month field 'FOO': 'FOO' is not a month name (JAN-DEC) or number 1-12"),
        ("cron(0 0 1 JANUARY ? *)", "month field 'JANUARY': 'JANUARY' is not a month name"),
        ("cron(0 0 1 ? ? *)", "month field '?': '?' is not allowed here"),
        ("cron(0 0 1 L ? *)", "month field 'L': 'L' is not a month name"),
        # day-of-week
        (
            "cron(0 9 ? * MON-FRX *)",
            "day-of-week field 'MON-FRX': 'FRX' is not a day name (SUN-SAT) or number 1-7",
        ),
        ("cron(0 0 ? * 0 *)", "day-of-week field '0': '0' is not a day name (SUN-SAT) or number 1-7"),
        ("cron(0 0 ? * 8 *)", "day-of-week field '8': '8' is not a day name (SUN-SAT) or number 1-7"),
        ("cron(0 0 ? * 2/2 *)", "day-of-week field '2/2': '/' is not allowed here"),
        ("cron(0 0 ? * 1W *)", "day-of-week field '1W': '1W' is not a day name"),
        ("cron(0 0 ? * 3#1,6#3 *)", "day-of-week field '3#1,6#3': '#' allows one expression only"),
        ("cron(0 0 ? * 3#6 *)", "day-of-week field '3#6': '6' after '#' is not a week of the month 1-5"),
        ("cron(0 0 ? * 3#0 *)", "day-of-week field '3#0'"),
        ("cron(0 0 ? * 8#1 *)", "day-of-week field '8#1': '8' is not a day name"),
        ("cron(0 0 ? * 1,L *)", "day-of-week field '1,L': 'L' takes the forms L and nL"),
        ("cron(0 0 ? * 8L *)", "day-of-week field '8L': '8' is not a day name"),
        # year
        ("cron(0 0 1 * ? 1969)", "year field '1969': '1969' is not a year 1970-2199"),
        ("cron(0 0 1 * ? 2200)", "year field '2200': '2200' is not a year 1970-2199"),
        ("cron(0 0 1 * ? 2030-2020)", "year field '2030-2020': range '2030-2020' runs backwards"),
        ("cron(0 0 1 * ? 26)", "year field '26'"),
        ("cron(0 0 1 * ? ?)", "year field '?': '?' is not allowed here"),
        # the '?' rule: exactly one of day-of-month and day-of-week
        (
            "cron(0 0 * * * *)",
            "day-of-month field '*' and day-of-week field '*': exactly one of them must be '?'",
        ),
        ("cron(0 0 ? * ? *)", "day-of-month field '?' and day-of-week field '?': exactly one"),
        ("cron(0 0 1 * MON *)", "day-of-month field '1' and day-of-week field 'MON': exactly one"),
        # rate
        ("rate(0 minutes)", "rate(0 minutes): value '0' is not a positive integer"),
        ("rate(-5 minutes)", "value '-5' is not a positive integer"),
        ("rate(1.5 hours)", "value '1.5' is not a positive integer"),
        ("rate(five minutes)", "value 'five' is not a positive integer"),
        (
            "rate(5 weeks)",
            "rate(5 weeks): unit 'weeks' is not one of minute, minutes, hour, hours, day, days",
        ),
        ("rate(5 seconds)", "unit 'seconds' is not one of"),
        ("rate(5 Minutes)", "unit 'Minutes' is not one of"),
        ("rate(5)", "rate(5): expected rate(value unit)"),
        ("rate(5 minutes please)", "expected rate(value unit)"),
        # at
        (
            "at(2026-02-30T00:00:00)",
            "at(2026-02-30T00:00:00): '2026-02-30T00:00:00' is not a valid date and time",
        ),
        ("at(2027-02-29T00:00:00)", "is not a valid date and time (day is out of range for month)"),
        ("at(2026-13-01T00:00:00)", "is not a valid date and time (month must be in 1..12)"),
        ("at(2026-01-01T24:00:00)", "is not a valid date and time (hour must be in 0..23)"),
        ("at(2026-01-01T09:60:00)", "is not a valid date and time"),
        ("at(2026-01-01 09:00:00)", "'2026-01-01 09:00:00' is not yyyy-mm-ddThh:mm:ss"),
        ("at(2026-01-01T09:00:00Z)", "is not yyyy-mm-ddThh:mm:ss (without a time zone suffix)"),
        ("at(2026-01-01T09:00:00+01:00)", "without a time zone suffix"),
        ("at(2026-01-01T09:00)", "is not yyyy-mm-ddThh:mm:ss"),
        ("at(2026-1-1T09:00:00)", "is not yyyy-mm-ddThh:mm:ss"),
        # not an expression at all
        ("every 5 minutes", "'every 5 minutes' is not a schedule expression: expected at("),
        ("", "'' is not a schedule expression"),
        ("CRON(0 0 * * ? *)", "is not a schedule expression"),
        (" cron(0 0 * * ? *)", "is not a schedule expression"),
        ("cron(0 0 * * ? *", "is not a schedule expression"),
    ],
)
def test_invalid_expression_is_rejected_with_a_message_naming_the_field(expression: str, message: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse(expression)
    assert message in str(caught.value)
    if expression.startswith(("cron(", "rate(", "at(")) and expression.endswith(")"):
        assert str(caught.value).startswith(f"{expression}: ")


def test_error_message_points_at_the_offending_day_name() -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse("cron(0 9 ? * MON-FRX *)")
    assert str(caught.value) == (
        "cron(0 9 ? * MON-FRX *): day-of-week field 'MON-FRX': 'FRX' is not a day name (SUN-SAT) or number 1-7"
    )


def test_invalid_schedule_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="minutes field"):
        parse("cron(99 * * * ? *)")


@pytest.mark.parametrize("unit", ["minutes", "hours", "days"])
def test_rate_with_value_one_requires_singular_unit(unit: str) -> None:
    with pytest.raises(InvalidSchedule, match=f"unit '{unit}' must be singular for value 1: '{unit[:-1]}'"):
        parse(f"rate(1 {unit})")
    assert parse(f"rate(1 {unit[:-1]})").rate == timedelta(**{unit: 1})


@pytest.mark.parametrize("unit", ["minute", "hour", "day"])
def test_rate_with_value_above_one_requires_plural_unit(unit: str) -> None:
    with pytest.raises(InvalidSchedule, match=f"unit '{unit}' must be plural for value 5: '{unit}s'"):
        parse(f"rate(5 {unit})")
    assert parse(f"rate(5 {unit}s)").rate == timedelta(**{f"{unit}s": 5})


def test_at_keeps_a_naive_wall_clock_time() -> None:
    parsed = parse("at(2026-06-01T09:00:00)")
    assert parsed.kind == "at"
    assert parsed.at == datetime(2026, 6, 1, 9, 0, 0)  # naive: read in the schedule's time zone


def test_day_and_month_names_are_case_insensitive_and_canonical_text_uppercases_them() -> None:
    lower = parse("cron(0 9 ? jan-mar mon-fri *)")
    upper = parse("cron(0 9 ? JAN-MAR MON-FRI *)")
    assert lower.cron == upper.cron
    assert str(lower) == "cron(0 9 ? JAN-MAR MON-FRI *)"
    assert lower.text == "cron(0 9 ? jan-mar mon-fri *)"


def test_canonical_text_of_each_kind() -> None:
    assert str(parse("cron(0  9 ?  * fril *)")) == "cron(0 9 ? * FRIL *)"
    assert str(parse("rate(5 minutes)")) == "rate(5 minutes)"
    assert str(parse("rate(05 minutes)")) == "rate(5 minutes)"
    assert str(parse("at(2026-01-01T09:00:00)")) == "at(2026-01-01T09:00:00)"


def test_schedule_expression_is_a_frozen_dataclass() -> None:
    parsed = parse("rate(5 minutes)")
    assert isinstance(parsed, ScheduleExpression)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.text = "rate(6 minutes)"  # type: ignore[misc]


def test_increments_start_at_the_given_value() -> None:
    # AWS docs: "1/10 ... every tenth minute, starting from the first minute of the hour"
    cron = parse("cron(1/10 * * * ? *)").cron
    assert cron is not None
    assert cron.minutes == (1, 11, 21, 31, 41, 51)
    assert parse("cron(*/15 * * * ? *)").cron.minutes == (0, 15, 30, 45)  # type: ignore[union-attr]
    assert parse("cron(5-30/5 * * * ? *)").cron.minutes == (5, 10, 15, 20, 25, 30)  # type: ignore[union-attr]
    assert parse("cron(0 0 1 2/5 ? *)").cron.months == {2, 7, 12}  # type: ignore[union-attr]


def test_ranges_that_run_past_the_end_wrap_around() -> None:
    assert parse("cron(0 22-2 * * ? *)").cron.hours == (0, 1, 2, 22, 23)  # type: ignore[union-attr]
    assert days_of("cron(0 0 ? * FRI-MON *)", count=4) == [date(2026, 1, d) for d in (2, 3, 4, 5)]


# --- L, W and # ------------------------------------------------------------------------------------------


def test_l_in_day_of_month_fires_on_the_last_day_of_each_month() -> None:
    assert days_of("cron(0 12 L * ? *)", count=4) == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]
    assert days_of("cron(0 12 L 2 ? *)", count=3, start=utc(2027, 6, 1)) == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
    ]


def test_l_minus_n_fires_n_days_before_the_last_day() -> None:
    assert days_of("cron(0 12 L-3 * ? *)", count=2) == [date(2026, 1, 28), date(2026, 2, 25)]


def test_lw_fires_on_the_last_weekday_of_the_month() -> None:
    # 2026-01-31 is a Saturday and 2026-05-31 a Sunday: both move back to Friday.
    assert days_of("cron(0 9 LW * ? *)", count=5) == [
        date(2026, 1, 30),
        date(2026, 2, 27),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 29),
    ]


def test_w_moves_a_saturday_back_to_friday_and_a_sunday_on_to_monday() -> None:
    # 2026-08-15 is a Saturday, 2026-02-15 a Sunday, 2026-01-15 a Thursday.
    assert days_of("cron(0 9 15W * ? *)", count=8) == [
        date(2026, 1, 15),
        date(2026, 2, 16),
        date(2026, 3, 16),
        date(2026, 4, 15),
        date(2026, 5, 15),
        date(2026, 6, 15),
        date(2026, 7, 15),
        date(2026, 8, 14),
    ]


def test_w_never_crosses_a_month_boundary() -> None:
    # 2026-08-01 is a Saturday: not Friday July 31 but Monday August 3.
    # 2026-02-01 is a Sunday: Monday the 2nd.
    assert days_of("cron(0 9 1W 2,8 ? *)", count=2) == [date(2026, 2, 2), date(2026, 8, 3)]
    # 2026-05-31 is a Sunday: not Monday June 1 but Friday May 29.
    assert days_of("cron(0 9 31W 5 ? *)", count=1) == [date(2026, 5, 29)]


def test_hash_fires_on_the_nth_weekday_of_the_month() -> None:
    assert days_of("cron(0 9 ? * 2#1 *)", count=4) == [
        date(2026, 1, 5),
        date(2026, 2, 2),
        date(2026, 3, 2),
        date(2026, 4, 6),
    ]
    assert days_of("cron(0 9 ? * TUE#2 *)", count=2) == [date(2026, 1, 13), date(2026, 2, 10)]


def test_fifth_weekday_fires_only_in_months_that_have_one() -> None:
    assert days_of("cron(0 9 ? * 5#5 *)", count=4) == [
        date(2026, 1, 29),
        date(2026, 4, 30),
        date(2026, 7, 30),
        date(2026, 10, 29),
    ]


def test_n_l_in_day_of_week_fires_on_the_last_such_weekday() -> None:
    assert days_of("cron(15 10 ? * 6L *)", count=3) == [
        date(2026, 1, 30),
        date(2026, 2, 27),
        date(2026, 3, 27),
    ]
    assert days_of("cron(15 10 ? * 5L *)", count=1) == [date(2026, 1, 29)]


def test_l_alone_in_day_of_week_is_saturday() -> None:
    # AWS docs: L in day-of-week "specifies the last day of ... the week".
    assert [day.weekday() for day in days_of("cron(0 0 ? * L *)", count=3)] == [5, 5, 5]


def test_day_of_week_numbers_run_from_sunday_one_to_saturday_seven() -> None:
    assert days_of("cron(0 0 ? * 1 *)", count=1) == [date(2026, 1, 4)]
    assert days_of("cron(0 0 ? * 7 *)", count=1) == [date(2026, 1, 3)]
    assert days_of("cron(0 12 ? * 2-6 *)", count=5) == [date(2026, 1, d) for d in (1, 2, 5, 6, 7)]


# --- time zones and daylight saving ---------------------------------------------------------------------


def test_weekday_mornings_in_berlin_are_eight_utc_in_winter_and_seven_in_summer() -> None:
    winter = fires("cron(0 9 ? * MON-FRI *)", "Europe/Berlin", utc(2026, 1, 11), count=6)
    assert winter == [utc(2026, 1, day, 8) for day in (12, 13, 14, 15, 16, 19)]
    summer = fires("cron(0 9 ? * MON-FRI *)", "Europe/Berlin", utc(2026, 7, 12), count=6)
    assert summer == [utc(2026, 7, day, 7) for day in (13, 14, 15, 16, 17, 20)]


def test_a_time_in_the_spring_forward_gap_is_skipped_that_day() -> None:
    # 2026-03-08 02:00 EST jumps to 03:00 EDT in New York: 02:30 does not exist that day.
    got = fires("cron(30 2 * * ? *)", "America/New_York", utc(2026, 3, 6, 12), count=3)
    assert got == [utc(2026, 3, 7, 7, 30), utc(2026, 3, 9, 6, 30), utc(2026, 3, 10, 6, 30)]


def test_a_time_repeated_by_fall_back_fires_once_at_its_first_occurrence() -> None:
    # 2026-11-01 02:00 EDT falls back to 01:00 EST: 01:30 happens at 05:30 and 06:30 UTC; only 05:30 fires.
    got = fires("cron(30 1 * * ? *)", "America/New_York", utc(2026, 10, 31, 12), count=2)
    assert got == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


def test_every_half_hour_does_not_repeat_the_fall_back_hour() -> None:
    got = fires("cron(0/30 * * * ? *)", "America/New_York", utc(2026, 11, 1, 4), count=5)
    assert got == [
        utc(2026, 11, 1, 4, 30),  # 00:30 EDT
        utc(2026, 11, 1, 5, 0),  # 01:00 EDT
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT; 01:00 and 01:30 EST do not fire again
        utc(2026, 11, 1, 7, 0),  # 02:00 EST
        utc(2026, 11, 1, 7, 30),
    ]


def test_starting_inside_the_repeated_hour_does_not_fire_its_second_occurrence() -> None:
    # 06:10 UTC is 01:10 EST, the second 01:10: the 01:30 of this day already fired at 05:30 UTC.
    assert fires("cron(30 1 * * ? *)", "America/New_York", utc(2026, 11, 1, 6, 10), count=1) == [
        utc(2026, 11, 2, 6, 30)
    ]


def test_half_hour_daylight_saving_on_lord_howe_skips_the_missing_half_hour() -> None:
    # Lord Howe moves from +10:30 to +11:00 at 02:00 on 2026-10-04: 02:15 does not exist.
    got = fires("cron(15 2 * * ? *)", "Australia/Lord_Howe", utc(2026, 10, 2), count=2)
    assert [fire.astimezone(ZoneInfo("Australia/Lord_Howe")).date() for fire in got] == [
        date(2026, 10, 3),
        date(2026, 10, 5),
    ]


def test_at_is_read_in_its_time_zone() -> None:
    assert fires("at(2026-07-01T09:00:00)", "Europe/Berlin") == [utc(2026, 7, 1, 7)]
    assert fires("at(2026-07-01T09:00:00)", "America/New_York") == [utc(2026, 7, 1, 13)]


def test_unknown_time_zone_raises_invalid_schedule_naming_it() -> None:
    for name in ("Mars/Olympus_Mons", "", "../etc/passwd", "/etc/localtime", "Europe", "utc "):
        with pytest.raises(InvalidSchedule, match=re.escape(f"time zone '{name}' is not a known IANA time zone")):
            preview("rate(5 minutes)", name, JAN_1_2026)
        with pytest.raises(InvalidSchedule, match="time zone"):
            next_fire_after(parse("rate(5 minutes)"), name, JAN_1_2026)


# --- rate and at previews ----------------------------------------------------------------------------------


def test_rate_fires_every_interval_after_the_start() -> None:
    start = utc(2026, 1, 1, 10, 7, 30)
    assert fires("rate(5 minutes)", start=start, count=3) == [start + timedelta(minutes=5 * n) for n in (1, 2, 3)]
    assert fires("rate(2 hours)", start=start, count=2) == [
        utc(2026, 1, 1, 12, 7, 30),
        utc(2026, 1, 1, 14, 7, 30),
    ]


def test_rate_in_days_is_twenty_four_hours_even_across_daylight_saving() -> None:
    got = fires("rate(1 day)", "America/New_York", utc(2026, 3, 7, 12), count=3)
    assert got == [utc(2026, 3, 8, 12), utc(2026, 3, 9, 12), utc(2026, 3, 10, 12)]


def test_at_fires_once_when_it_is_after_the_start() -> None:
    assert fires("at(2026-03-01T12:00:00)", count=5) == [utc(2026, 3, 1, 12)]


def test_at_that_is_not_after_the_start_never_fires() -> None:
    assert fires("at(2025-12-31T23:59:59)") == []
    assert fires("at(2026-01-01T00:00:00)") == []
    assert next_fire_after(parse("at(2026-01-01T00:00:00)"), "UTC", JAN_1_2026) is None


def test_a_naive_start_is_read_as_utc() -> None:
    naive = datetime(2026, 1, 1, 10, 0)  # naive, the point of the test
    assert preview("cron(0 11 * * ? *)", "UTC", naive, 1) == [utc(2026, 1, 1, 11)]


def test_preview_defaults_to_now() -> None:
    before = datetime.now(UTC)
    [fire] = preview("rate(1 minute)", count=1)
    assert before + timedelta(minutes=1) <= fire <= datetime.now(UTC) + timedelta(minutes=1)


def test_preview_of_zero_fires_is_empty() -> None:
    assert fires("cron(* * * * ? *)", count=0) == []


def test_next_fire_after_is_strictly_after() -> None:
    expr = parse("cron(0 9 * * ? *)")
    assert next_fire_after(expr, "UTC", utc(2026, 1, 1, 9)) == utc(2026, 1, 2, 9)
    assert next_fire_after(expr, "UTC", utc(2026, 1, 1, 8, 59, 59)) == utc(2026, 1, 1, 9)


# --- sparse and finished schedules end quickly ---------------------------------------------------------


def test_february_29_fires_only_in_leap_years() -> None:
    assert days_of("cron(0 0 29 2 ? *)", count=3) == [date(2028, 2, 29), date(2032, 2, 29), date(2036, 2, 29)]


def test_a_cron_that_never_matches_a_real_date_returns_nothing() -> None:
    assert fires("cron(0 0 31 2 ? *)") == []
    assert fires("cron(0 0 30 2 ? *)") == []


def test_a_year_range_in_the_past_returns_nothing() -> None:
    assert fires("cron(0 0 1 1 ? 2020-2025)") == []


def test_a_year_limited_cron_returns_fewer_than_asked() -> None:
    assert days_of("cron(0 12 25 12 ? 2026-2027)", count=5) == [date(2026, 12, 25), date(2027, 12, 25)]


def test_the_search_stops_at_the_last_year_2199() -> None:
    assert days_of("cron(0 0 1 1 ? *)", count=3, start=utc(2198, 6, 1)) == [date(2199, 1, 1)]
    assert fires("cron(0 0 1 * ? *)", start=utc(2199, 12, 2)) == []
    assert fires("cron(0 0 ? * 1#5 *)", start=utc(2199, 12, 29, 0, 1)) == []


# --- properties -----------------------------------------------------------------------------------------


def _numbers(low: int, high: int, most: int = 4) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(low, high), min_size=1, max_size=most, unique=True)


def _join(values: list[int] | list[str]) -> str:
    return ",".join(str(value) for value in values)


# Starts spread over several years, and starts within a day and a half of a daylight saving change.
TRANSITIONS = [
    utc(2026, 3, 8, 7),
    utc(2026, 3, 29, 1),
    utc(2026, 4, 5, 0),
    utc(2026, 10, 3, 15),
    utc(2026, 11, 1, 6),
]
STARTS = st.one_of(
    st.datetimes(datetime(2025, 1, 1), datetime(2029, 12, 31), timezones=st.just(UTC)),
    st.builds(
        lambda at, minutes: at + timedelta(minutes=minutes),
        st.sampled_from(TRANSITIONS),
        st.integers(-36 * 60, 36 * 60),
    ),
)


@st.composite
def crons(draw: st.DrawFn) -> tuple[str, list[int], list[int], list[int] | None, list[str] | None, list[int]]:
    minutes, hours = draw(_numbers(0, 59)), draw(_numbers(0, 23))
    months = draw(st.one_of(st.just(list(range(1, 13))), _numbers(1, 12, most=6)))
    month_text = "*" if len(months) == 12 else _join(months)
    kind = draw(st.sampled_from(["every day", "days of month", "days of week"]))
    dom: list[int] | None = None
    dow: list[str] | None = None
    if kind == "days of month":
        dom = draw(_numbers(1, 31, most=3))
        days = f"{_join(dom)} {month_text} ?"
    elif kind == "days of week":
        dow = draw(st.lists(st.sampled_from(DAY_NAMES), min_size=1, max_size=3, unique=True))
        days = f"? {month_text} {_join(dow)}"
    else:
        days = f"* {month_text} ?"
    return f"cron({_join(minutes)} {_join(hours)} {days} *)", minutes, hours, dom, dow, months


@QUICK
@given(crons(), st.sampled_from(ZONES), STARTS, st.integers(1, 8))
def test_preview_is_increasing_aware_utc_and_every_fire_matches_the_fields(
    cron: tuple[str, list[int], list[int], list[int] | None, list[str] | None, list[int]],
    tz: str,
    start: datetime,
    count: int,
) -> None:
    expression, minutes, hours, dom, dow, months = cron
    got = preview(expression, tz, start, count)
    if dom is None or min(dom) <= 28 or len(months) == 12:
        assert len(got) == count  # the schedule has a matching day every year: it never runs out
    assert all(fire.tzinfo is UTC for fire in got)
    assert [start, *got] == sorted(set([start, *got]))  # strictly increasing, all after start
    for fire in got:
        wall = fire.astimezone(ZoneInfo(tz))
        assert wall.fold == 0  # the first occurrence of a repeated wall time, never the second
        assert (wall.second, wall.microsecond) == (0, 0)
        assert wall.minute in minutes
        assert wall.hour in hours
        assert wall.month in months
        if dom is not None:
            assert wall.day in dom
        if dow is not None:
            assert DAY_NAMES[(wall.weekday() + 1) % 7] in dow


def _oracle(minutes: list[int], hours: list[int], zone: ZoneInfo, after: datetime) -> datetime | None:
    """Minute by minute in UTC: the first instant whose wall time matches and is not a repeat (fold=1)."""
    moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(3 * 24 * 60):
        wall = moment.astimezone(zone)
        if wall.fold == 0 and wall.minute in minutes and wall.hour in hours:
            return moment
        moment += timedelta(minutes=1)
    return None


@QUICK
@given(_numbers(0, 59), _numbers(0, 23), st.sampled_from(ZONES), STARTS)
def test_next_fire_of_a_daily_cron_is_what_a_minute_by_minute_search_finds(
    minutes: list[int], hours: list[int], tz: str, start: datetime
) -> None:
    expression = parse(f"cron({_join(minutes)} {_join(hours)} * * ? *)")
    assert next_fire_after(expression, tz, start) == _oracle(minutes, hours, ZoneInfo(tz), start)
