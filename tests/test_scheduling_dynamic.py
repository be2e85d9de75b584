"""Dynamic schedules from the SDK (``app.schedules``), against EventBridge Scheduler on moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from squall import InvalidSchedule, ScheduleExists, ScheduleInfo, ScheduleNotFound, Squall
from squall.local import Runtime
from squall.local.scheduler import fill_context
from squall.scheduler.schedules import rate_expression
from squall.wire.envelope import Envelope


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    @app.task
    def remind(user: str, note: str = "") -> None: ...

    @app.periodic("rate(1 hour)", name="declared")
    def declared() -> None: ...

    return SimpleNamespace(remind=remind)


def stored(rt: Runtime, name: str) -> dict[str, Any]:
    return dict(rt.app.scheduler.get_schedule(Name=name, GroupName=rt.settings.schedule_group))


def test_create_get_list_pause_resume_delete(rt: Runtime, tasks: SimpleNamespace) -> None:
    schedules = rt.app.schedules

    # Create: a cron schedule in Berlin, kept in the app's group as d.<name>
    made = schedules.create(
        "remind-ann", tasks.remind.s("ann", note="standup"), cron="0 9 ? * MON-FRI *", timezone="Europe/Berlin"
    )
    assert isinstance(made, ScheduleInfo)
    assert (made.name, made.expression, made.timezone, made.enabled) == (
        "remind-ann",
        "cron(0 9 ? * MON-FRI *)",
        "Europe/Berlin",
        True,
    )
    assert (made.task, made.args, made.kwargs) == (tasks.remind.name, ("ann",), {"note": "standup"})
    doc = stored(rt, "d.remind-ann")
    assert doc["Target"]["Arn"] == rt.settings.queue("default").arn
    assert doc["Target"]["DeadLetterConfig"] == {"Arn": rt.settings.scheduler_dlq_arn}

    # Get and list (list shows only dynamic schedules, not declared ones or long delays)
    assert schedules.get("remind-ann") == made
    tasks.remind.apply_async(("bob",), countdown=86_400)
    (summary,) = schedules.list()
    assert (summary.name, summary.enabled, summary.arn) == ("remind-ann", True, made.arn)

    # Pause and resume change the state and nothing else
    assert schedules.pause("remind-ann").enabled is False
    assert stored(rt, "d.remind-ann")["State"] == "DISABLED"
    assert schedules.resume("remind-ann") == made
    after = stored(rt, "d.remind-ann")
    assert {k: after[k] for k in ("ScheduleExpression", "ScheduleExpressionTimezone", "Target", "State")} == {
        k: doc[k] for k in ("ScheduleExpression", "ScheduleExpressionTimezone", "Target", "State")
    }

    # Delete, once
    assert schedules.delete("remind-ann") is True
    assert schedules.delete("remind-ann") is False
    with pytest.raises(ScheduleNotFound, match="remind-ann"):
        schedules.get("remind-ann")
    assert schedules.list() == []


def test_a_dynamic_firing_runs_a_task_named_after_the_schedule_and_time(rt: Runtime, tasks: SimpleNamespace) -> None:
    rt.app.schedules.create("nightly", tasks.remind.s("ann"), cron="0 2 * * ? *")

    body = fill_context(stored(rt, "d.nightly")["Target"]["Input"], "arn", "2026-11-24T02:00:00Z")

    assert Envelope.decode(body).id == "d.nightly@2026-11-24T02:00:00Z"


def test_a_name_can_be_used_once(rt: Runtime, tasks: SimpleNamespace) -> None:
    rt.app.schedules.create("dup", tasks.remind.s("ann"), rate="1 day")
    with pytest.raises(ScheduleExists, match="'dup'"):
        rt.app.schedules.create("dup", tasks.remind.s("bob"), rate="2 days")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": "has space", "cron": "0 9 * * ? *"}, "name 'has space'"),
        ({"name": "n" * 63, "cron": "0 9 * * ? *"}, "name 'n+'"),
        ({"name": "none"}, "exactly one of cron=, rate= or at=; got none"),
        ({"name": "two", "cron": "0 9 * * ? *", "rate": "1 day"}, "got cron, rate"),
        ({"name": "bad", "cron": "0 9 * * MON *"}, "expression: .*exactly one of them must be '\\?'"),
        ({"name": "bad", "cron": "0 9 32 * ? *"}, "day-of-month field '32'"),
        ({"name": "bad", "rate": "5 minute"}, "must be plural"),
        ({"name": "bad", "rate": timedelta(seconds=90)}, "whole number of minutes"),
        ({"name": "bad", "cron": "0 9 * * ? *", "timezone": "Berlin"}, "timezone 'Berlin'"),
        ({"name": "bad", "cron": "0 9 * * ? *", "flexible_window_minutes": 2000}, "flexible_window_minutes"),
    ],
)
def test_invalid_dynamic_schedules_are_refused_before_any_call(
    rt: Runtime, tasks: SimpleNamespace, options: dict[str, Any], message: str
) -> None:
    name = options.pop("name")
    with pytest.raises(InvalidSchedule, match=message):
        rt.app.schedules.create(name, tasks.remind.s("ann"), **options)
    assert rt.app.schedules.list() == []


def test_a_one_time_schedule_in_the_past_is_refused(rt: Runtime, tasks: SimpleNamespace) -> None:
    past = datetime.fromtimestamp(rt.clock.now(), UTC) - timedelta(minutes=1)
    with pytest.raises(InvalidSchedule, match="not in the future"):
        rt.app.schedules.create("late", tasks.remind.s("ann"), at=past)


def test_a_one_time_schedule_is_written_in_its_time_zone_and_deleted_after_firing(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    when = datetime.fromtimestamp(rt.clock.now(), UTC).replace(microsecond=0) + timedelta(days=2, seconds=1)
    made = rt.app.schedules.create("once", tasks.remind.s("ann"), at=when, timezone="Asia/Tokyo")

    local_time = when.astimezone(ZoneInfo("Asia/Tokyo")).replace(tzinfo=None)
    assert made.expression == f"at({local_time.isoformat()})"
    assert stored(rt, "d.once")["ActionAfterCompletion"] == "DELETE"


def test_rates_are_written_with_the_services_singular_and_plural_rule() -> None:
    assert rate_expression("15 minutes") == "rate(15 minutes)"
    assert rate_expression(timedelta(minutes=90)) == "rate(90 minutes)"
    assert rate_expression(timedelta(hours=2)) == "rate(2 hours)"
    assert rate_expression(timedelta(days=1)) == "rate(1 day)"


def test_resuming_a_rate_schedule_keeps_its_phase(rt: Runtime, tasks: SimpleNamespace) -> None:
    made = rt.app.schedules.create("sync", tasks.remind.s("ann"), rate="1 hour")
    assert made.start is not None

    rt.app.schedules.pause("sync")
    rt.advance(hours=5, minutes=20)
    resumed = rt.app.schedules.resume("sync")

    # The service refuses a StartDate in the past: it moves forward by whole intervals
    assert resumed.start == made.start + timedelta(hours=6)
    assert stored(rt, "d.sync")["StartDate"] == resumed.start
