"""A schedule's firings carry its time limits, expiry and lane, as a call's options would: a firing that overruns
the schedule's time_limit is stopped, and ``priority=`` sends every firing onto that lane's queue. Periodic
schedules take them as arguments; dynamic ones from their signature's options, none of them dropped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from squall import InvalidSchedule, Queue, Squall, State, TaskDefinitionError, clock, local
from squall.scheduler.periodic import schedule_resources
from squall.scheduler.scheduling import firing_id


def _laned() -> Squall:
    return Squall("beat", queues=["default", Queue("reports", lanes=("high", "low"), max_concurrency=4)])


@pytest.mark.parametrize(
    ("limits", "state", "reason"),
    [
        ({"time_limit": 3, "soft_time_limit": 2}, State.DEAD, "soft_time_limit of 2 s"),
        ({}, State.SUCCESS, None),  # the same task scheduled without limits runs to its end
    ],
)
def test_a_firing_is_stopped_at_the_schedules_time_limit(
    app: Squall, limits: dict[str, float], state: State, reason: str | None
) -> None:
    @app.periodic("rate(1 hour)", name="crunch", **limits)  # type: ignore[arg-type]
    def crunch() -> str:
        clock.sleep(30)
        return "done"

    with local.run(app) as rt:
        rt.advance(minutes=1, run=True)
        [fired] = rt.scheduler.fired  # type: ignore[union-attr]
        record = rt.app.AsyncResult(f"p.crunch@{fired.scheduled_time}").record

    assert record is not None
    assert record.state is state
    assert reason is None or reason in str(record.reason)


def test_a_schedule_with_a_priority_fires_onto_that_lane() -> None:
    app = _laned()
    lanes_seen: list[str | None] = []

    @app.task(queue="reports")
    def build() -> None:
        lanes_seen.append("ran")

    app.periodic("rate(1 hour)", name="urgent", priority="high")(build)
    app.periodic("rate(1 hour)", name="routine")(build)

    [urgent, routine] = sorted(schedule_resources(app), key=lambda r: r.name, reverse=True)
    assert (urgent.queue, routine.queue) == ("reports:high", "reports")
    assert json.loads(urgent.input)["options"]["lane"] == "high"
    with local.run(app) as rt:
        rt.advance(seconds=1)
        queued = (rt.queued("reports:high"), rt.queued("reports:low"))
        rt.drain()

    assert queued == (1, 1)  # the routine schedule fires onto the queue's default lane, the lowest
    assert lanes_seen == ["ran", "ran"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"priority": "urgent"}, "options: .*'urgent' is not a lane of queue 'reports'; give one of high, low"),
        ({"time_limit": 0}, "time_limit 0 must be a number of seconds"),
        ({"time_limit": 5, "soft_time_limit": 9}, "soft_time_limit 9 s must be less than time_limit 5 s"),
    ],
)
def test_unusable_schedule_options_are_refused_when_declared(options: dict[str, object], message: str) -> None:
    app = _laned()

    with pytest.raises(TaskDefinitionError, match=message):

        @app.periodic("rate(1 hour)", name="bad", **options)  # type: ignore[arg-type]
        @app.task(queue="reports")
        def bad() -> None: ...

    assert app.periodic_schedules == {}


def test_a_priority_on_a_queue_without_lanes_is_refused(app: Squall) -> None:
    with pytest.raises(TaskDefinitionError, match="queue 'default' has no priority lanes"):

        @app.periodic("rate(1 hour)", name="bad", priority="high")
        def bad() -> None: ...


def test_a_dynamic_schedules_signature_options_reach_its_firings() -> None:
    app = _laned()
    runs: list[str] = []

    @app.task(queue="reports", max_retries=0)
    def build(name: str) -> None:
        runs.append(name)
        clock.sleep(30)

    with local.run(app) as rt:
        call = build.s("weekly").set(priority="high", time_limit=4, expires=600, flow_key="acme")
        app.schedules.create("weekly", call, rate="1 hour")
        rt.advance(seconds=2)
        queued = (rt.queued("reports:high"), rt.queued("reports:low"))
        rt.drain()
        [fired] = rt.scheduler.fired  # type: ignore[union-attr]
        record = app.AsyncResult(firing_id(fired.schedule, fired.scheduled_time)).record

    assert queued == (1, 0)
    assert runs == ["weekly"]
    assert record is not None
    assert record.state is State.DEAD
    assert "time_limit of 4 s" in str(record.reason)


def test_a_datetime_expiry_is_refused_for_a_recurring_schedule_and_kept_for_a_one_time_one() -> None:
    app = _laned()

    @app.task(queue="reports")
    def build() -> None: ...

    with local.run(app) as rt:
        soon = datetime.fromtimestamp(rt.clock.now(), UTC) + timedelta(hours=1)
        with pytest.raises(InvalidSchedule, match="expires= as a datetime would expire every firing after it"):
            app.schedules.create("recurring", build.s().set(expires=soon), rate="1 hour")
        app.schedules.create("once", build.s().set(expires=soon + timedelta(hours=1)), at=soon)
        rt.advance(hours=2, run=True)
        [fired] = rt.scheduler.fired  # type: ignore[union-attr]
        assert app.AsyncResult(firing_id(fired.schedule, fired.scheduled_time)).state is State.SUCCESS


def test_a_periodic_schedule_takes_a_signatures_limits_and_priority_and_refuses_its_other_options() -> None:
    app = _laned()

    @app.task(queue="reports")
    def build(kind: str) -> None: ...

    app.periodic("rate(1 hour)", name="urgent")(build.s("daily").set(priority="high", time_limit=7))
    with pytest.raises(TaskDefinitionError, match="no call options like countdown"):
        app.periodic("rate(1 hour)", name="late")(build.s("daily").set(countdown=5))

    [resource] = schedule_resources(app)
    options = json.loads(resource.input)["options"]
    assert (resource.queue, options["lane"], options["time_limit"]) == ("reports:high", "high", 7.0)
