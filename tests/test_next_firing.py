"""``firings.next_firing``: when a stored schedule fires next, the one rule the local scheduler and the CLI share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from squall.scheduler.firings import next_firing
from squall.scheduler.schedule_expr import parse

CREATED = datetime(2026, 3, 1, 10, 0, 7, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


def test_a_rate_fires_first_when_created_then_keeps_that_phase() -> None:
    rate = parse("rate(5 minutes)")

    first = next_firing(rate, "UTC", CREATED - timedelta(microseconds=1), created=CREATED)
    later = next_firing(rate, "UTC", CREATED + timedelta(minutes=12), created=CREATED)

    assert first == CREATED
    assert later == CREATED + timedelta(minutes=15)  # the creation phase, not "after + 5 minutes"


def test_a_rate_at_exactly_a_firing_gives_the_next_one() -> None:
    rate = parse("rate(5 minutes)")

    assert next_firing(rate, "UTC", CREATED, created=CREATED) == CREATED + timedelta(minutes=5)
    on_the_tenth = CREATED + timedelta(minutes=10)
    assert next_firing(rate, "UTC", on_the_tenth, created=CREATED) == CREATED + timedelta(minutes=15)


def test_a_rate_with_a_start_date_takes_its_phase_from_the_start_date() -> None:
    rate = parse("rate(1 hour)")
    start = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)

    before = next_firing(rate, "UTC", CREATED, created=CREATED, start=start)
    after = next_firing(rate, "UTC", start + timedelta(minutes=1), created=CREATED, start=start)

    assert (before, after) == (start, start + timedelta(hours=1))


def test_no_firing_at_or_after_the_end_date() -> None:
    rate = parse("rate(5 minutes)")
    end = CREATED + timedelta(minutes=10)

    last = next_firing(rate, "UTC", CREATED, created=CREATED, end=end)
    none = next_firing(rate, "UTC", last or CREATED, created=CREATED, end=end)

    assert last == CREATED + timedelta(minutes=5)
    assert none is None  # the firing at 10 minutes is the end date itself: excluded


def test_a_rate_day_is_24_hours_across_a_daylight_saving_change() -> None:
    rate = parse("rate(1 day)")
    created = datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK)  # EST; the clocks spring forward on the 8th

    fire = next_firing(rate, "America/New_York", created, created=created)

    assert fire == created.astimezone(UTC) + timedelta(hours=24)
    assert fire is not None
    assert fire.astimezone(NEW_YORK).hour == 13  # 13:00 EDT, not noon


def test_a_cron_fires_at_its_start_date_but_not_before() -> None:
    cron = parse("cron(0 * * * ? *)")
    start = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

    first = next_firing(cron, "UTC", CREATED, created=CREATED, start=start)
    then = next_firing(cron, "UTC", start, created=CREATED, start=start)

    assert (first, then) == (start, start + timedelta(hours=1))


def test_a_cron_wall_time_skipped_by_spring_forward_does_not_fire_that_day() -> None:
    cron = parse("cron(30 2 * * ? *)")
    before_the_change = datetime(2026, 3, 7, 3, 0, tzinfo=NEW_YORK)

    fire = next_firing(cron, "America/New_York", before_the_change, created=CREATED)

    assert fire == datetime(2026, 3, 9, 2, 30, tzinfo=NEW_YORK).astimezone(UTC)  # 8 March 02:30 does not exist


def test_a_cron_wall_time_repeated_by_fall_back_fires_once() -> None:
    cron = parse("cron(30 1 * * ? *)")
    evening = datetime(2026, 10, 31, 22, 0, tzinfo=NEW_YORK)

    first = next_firing(cron, "America/New_York", evening, created=CREATED)
    second = next_firing(cron, "America/New_York", first or evening, created=CREATED)

    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, the first occurrence
    assert second == datetime(2026, 11, 2, 6, 30, tzinfo=UTC)  # not 01:30 EST an hour later


def test_an_at_ignores_the_start_and_end_dates_and_fires_once() -> None:
    at = parse("at(2026-03-05T09:00:00)")
    end = datetime(2026, 3, 4, tzinfo=UTC)

    fire = next_firing(at, "Europe/Paris", CREATED, created=CREATED, end=end)
    again = next_firing(at, "Europe/Paris", fire or CREATED, created=CREATED, end=end)

    assert (fire, again) == (datetime(2026, 3, 5, 8, 0, tzinfo=UTC), None)


@pytest.mark.parametrize("after", [datetime(2026, 3, 1, 10, 3), datetime(2026, 3, 1, 10, 3, tzinfo=UTC)])
def test_a_naive_time_is_read_as_utc(after: datetime) -> None:
    fire = next_firing(parse("rate(5 minutes)"), "UTC", after, created=CREATED)

    assert fire == CREATED + timedelta(minutes=5)
