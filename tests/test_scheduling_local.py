"""The local runtime fires periodic, dynamic and one-time schedules on its fake clock, as the service would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from squall import SCHEDULED_TIME, ScheduleNotFound, Squall, State, local
from squall.local import Runtime
from squall.local.scheduler import fill_context
from squall.scheduler.periodic import schedule_input


def now(rt: Runtime) -> datetime:
    return datetime.fromtimestamp(rt.clock.now(), UTC)


def advance_to(rt: Runtime, moment: datetime) -> None:
    rt.advance(seconds=moment.timestamp() - rt.clock.now())


def next_dst_change(zone: str, after: datetime, *, spring: bool) -> date:
    """The next day on which ``zone`` springs forward (or falls back)."""
    tz, day = ZoneInfo(zone), after.date()
    while True:
        day += timedelta(days=1)
        morning = datetime(day.year, day.month, day.day, tzinfo=tz).utcoffset()
        evening = datetime(day.year, day.month, day.day, 23, tzinfo=tz).utcoffset()
        if morning is not None and evening is not None and morning != evening and (evening > morning) == spring:
            return day


@pytest.fixture
def ran() -> list[Any]:
    return []


@pytest.fixture
def running(app: Squall) -> Iterator[Runtime]:
    """The runtime, entered by the test once its schedules are declared."""
    with local.run(app) as runtime:
        yield runtime


def test_a_daily_cron_fires_seven_times_in_a_week(app: Squall, ran: list[Any]) -> None:
    @app.periodic("cron(0 9 * * ? *)", name="daily", args=("morning",))
    def digest(kind: str) -> None:
        ran.append(kind)

    with local.run(app) as rt:
        rt.advance(days=7, run=True)  # the worker runs as time passes, as in production

    assert ran == ["morning"] * 7
    assert [f.scheduled_time[11:] for f in rt.scheduler.fired] == ["09:00:00Z"] * 7  # type: ignore[union-attr]


def test_advance_fires_without_running_and_drain_runs_what_the_queue_still_holds(app: Squall, ran: list[Any]) -> None:
    @app.periodic("cron(0 9 * * ? *)", name="daily")
    def digest() -> None:
        ran.append(1)

    with local.run(app) as rt:
        rt.advance(days=3)
        assert ran == []
        assert len(rt.scheduler.fired) == 3  # type: ignore[union-attr]
        rt.drain()
        assert len(ran) == 3
        # Left unconsumed past the queue's 4-day retention, firings expire as SQS expires messages
        rt.advance(days=7)
        rt.drain()

    assert len(rt.scheduler.fired) == 10  # type: ignore[union-attr]
    assert 3 + 4 <= len(ran) < 10


def test_weekdays_at_nine_in_berlin_fire_five_times_a_week(app: Squall, ran: list[Any]) -> None:
    @app.periodic("cron(0 9 ? * MON-FRI *)", timezone="Europe/Berlin")
    def morning_digest() -> None:
        ran.append(1)

    with local.run(app) as rt:
        rt.advance(days=7, run=True)
        fired = rt.scheduler.fired  # type: ignore[union-attr]

    assert len(ran) == 5
    berlin = [datetime.fromtimestamp(f.at, ZoneInfo("Europe/Berlin")) for f in fired]
    assert {(t.hour, t.minute) for t in berlin} == {(9, 0)}
    assert all(t.weekday() < 5 for t in berlin)


@pytest.mark.parametrize(("spring", "expected"), [(True, 6), (False, 7)])
def test_a_nightly_cron_across_a_dst_change_skips_the_missing_hour_and_fires_the_repeated_one_once(
    app: Squall, spring: bool, expected: int
) -> None:
    # Given 02:30 every night in Berlin, starting three days before the clocks change
    change = next_dst_change("Europe/Berlin", datetime.now(UTC) + timedelta(days=1), spring=spring)
    start = datetime(change.year, change.month, change.day, tzinfo=UTC) - timedelta(days=3)

    @app.periodic("cron(30 2 * * ? *)", timezone="Europe/Berlin", start=start, name="nightly")
    def nightly() -> None: ...

    with local.run(app) as rt:
        advance_to(rt, start)
        assert rt.scheduler.fired == []  # type: ignore[union-attr]
        # When a week passes
        rt.advance(days=7, run=True)
        fired = rt.scheduler.fired  # type: ignore[union-attr]
        done = [rt.app.AsyncResult(f"p.nightly@{f.scheduled_time}").state for f in fired]

    # Then 02:30 fired each night it existed, once
    assert len(fired) == expected
    assert len({f.scheduled_time for f in fired}) == expected
    assert done == [State.SUCCESS] * expected


def test_a_rate_schedule_fires_when_created_and_every_interval(app: Squall, ran: list[Any]) -> None:
    @app.periodic("rate(6 hours)", name="sync")
    def sync() -> None:
        ran.append(1)

    with local.run(app) as rt:
        created = rt.clock.now()
        rt.advance(hours=24)
        rt.drain()
        fired = [f.at - created for f in rt.scheduler.fired]  # type: ignore[union-attr]

    assert fired == pytest.approx([0, 6 * 3600, 12 * 3600, 18 * 3600, 24 * 3600], abs=1e-3)
    assert len(ran) == 5


def test_start_and_end_dates_bound_a_periodic_schedule(app: Squall) -> None:
    t0 = datetime.now(UTC)

    @app.periodic("cron(0 9 * * ? *)", name="later", start=t0 + timedelta(days=3))
    def later() -> None: ...

    @app.periodic("cron(0 9 * * ? *)", name="sooner", end=t0 + timedelta(days=2))
    def sooner() -> None: ...

    with local.run(app) as rt:
        rt.advance(days=7)
        names = [f.schedule for f in rt.scheduler.fired]  # type: ignore[union-attr]

    assert (names.count("p.later"), names.count("p.sooner")) == (4, 2)


def test_a_three_day_delay_runs_after_three_days_not_before(app: Squall) -> None:
    @app.task
    def remind(user: str) -> str:
        return f"reminded {user}"

    with local.run(app) as rt:
        result = remind.apply_async(("ann",), countdown=3 * 86_400)
        due = rt.clock.now() + 3 * 86_400

        rt.advance(days=3, minutes=-2)
        assert rt.poll() == 0
        assert result.state is State.PENDING

        rt.drain()
        assert result.get(timeout=0) == "reminded ann"
        assert rt.clock.now() >= due
        assert rt.app.scheduler.list_schedules(GroupName=rt.settings.schedule_group)["Schedules"] == []


def test_drain_does_not_chase_recurring_schedules(app: Squall) -> None:
    @app.periodic("rate(1 hour)", name="hourly")
    def hourly() -> None: ...

    with local.run(app) as rt:
        before = rt.clock.now()
        rt.drain()
        assert rt.clock.now() - before < 1


def test_drain_fires_recurring_schedules_due_on_its_way_to_a_long_delay(app: Squall, ran: list[Any]) -> None:
    @app.periodic("rate(1 hour)", name="hourly")
    def hourly() -> None:
        ran.append("hourly")

    @app.task
    def later() -> None:
        ran.append("later")

    with local.run(app) as rt:
        later.apply_async(countdown=3 * 3600)
        rt.drain()

    # The hourly schedule fired at 0, 1, 2 and 3 h, each run before the delayed task came due
    assert ran == ["hourly"] * 4 + ["later"]


def test_a_firing_delivered_twice_runs_once(app: Squall, ran: list[Any]) -> None:
    @app.periodic("cron(0 9 * * ? *)", name="daily")
    def daily() -> None:
        ran.append(1)

    with local.run(app) as rt:
        body = fill_context(schedule_input(app, app.periodic_schedules["daily"]), "arn", "2026-11-24T09:00:00Z")
        for _ in range(2):  # the service retried an invocation that had in fact succeeded
            rt.app.sqs.send_message(QueueUrl=rt.settings.queue("default").url, MessageBody=body)
        rt.drain()
        assert rt.app.AsyncResult("p.daily@2026-11-24T09:00:00Z").state is State.SUCCESS

    assert ran == [1]


def test_dynamic_schedules_fire_and_paused_ones_do_not(app: Squall, ran: list[Any]) -> None:
    @app.task
    def ping(who: str) -> None:
        ran.append(who)

    with local.run(app) as rt:
        app.schedules.create("ping-ann", ping.s("ann"), cron="0 * * * ? *")
        rt.advance(hours=3)
        app.schedules.pause("ping-ann")
        rt.advance(hours=3)
        app.schedules.resume("ping-ann")
        rt.advance(hours=2)
        rt.drain()
        ids = [f"{f.schedule}@{f.scheduled_time}" for f in rt.scheduler.fired]  # type: ignore[union-attr]
        states = {rt.app.AsyncResult(task_id).state for task_id in ids}

    assert ran == ["ann"] * 5
    assert all(task_id.startswith("d.ping-ann@") for task_id in ids)
    assert states == {State.SUCCESS}


def test_a_one_time_dynamic_schedule_fires_once_then_is_deleted(app: Squall, ran: list[Any]) -> None:
    @app.task
    def ping(who: str) -> None:
        ran.append(who)

    with local.run(app) as rt:
        app.schedules.create("once", ping.s("bob"), at=now(rt) + timedelta(hours=2))
        rt.drain()  # a one-time schedule is pending work: drain moves the clock to it
        assert ran == ["bob"]
        with pytest.raises(ScheduleNotFound):
            app.schedules.get("once")
        rt.advance(days=1)
        rt.drain()

    assert ran == ["bob"]


def test_a_firing_whose_queue_is_gone_goes_to_the_scheduler_dlq(app: Squall) -> None:
    @app.task
    def ping() -> None: ...

    with local.run(app) as rt:
        app.schedules.create("orphan", ping.s(), rate="1 hour")
        app.sqs.delete_queue(QueueUrl=rt.settings.queue("default").url)
        rt.advance(minutes=1)
        (firing,) = rt.scheduler.fired  # type: ignore[union-attr]
        dlq_url = app.sqs.get_queue_url(QueueName=rt.settings.scheduler_dlq_arn.rsplit(":", 1)[-1])["QueueUrl"]
        (message,) = app.sqs.receive_message(QueueUrl=dlq_url)["Messages"]

    assert firing.dead_lettered
    assert f"d.orphan@{firing.scheduled_time}" in message["Body"]


def test_an_argument_can_receive_the_scheduled_time(app: Squall, ran: list[Any]) -> None:
    @app.periodic("cron(0 9 * * ? *)", name="stamp", args=(SCHEDULED_TIME,))
    def stamp(when: str) -> None:
        ran.append(when)

    with local.run(app) as rt:
        rt.advance(days=1, run=True)
        (firing,) = rt.scheduler.fired  # type: ignore[union-attr]

    assert ran == [firing.scheduled_time]
    assert ran[0].endswith("T09:00:00Z")
