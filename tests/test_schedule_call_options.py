"""A periodic schedule's firings carry its time limits and its lane, as a call's options would: a firing that
overruns the schedule's time_limit is stopped, and ``priority=`` sends every firing onto that lane's queue."""

from __future__ import annotations

import json

import pytest

from squall import Queue, Squall, State, TaskDefinitionError, clock, local
from squall.scheduler.periodic import schedule_resources


def _laned() -> Squall:
    return Squall("beat", queues=["default", Queue("reports", lanes=("high", "low"), max_concurrency=4)])


def test_a_firing_is_stopped_at_the_schedules_time_limit(app: Squall) -> None:
    @app.periodic("rate(1 hour)", name="crunch", time_limit=3, soft_time_limit=2)
    def crunch() -> str:
        clock.sleep(30)
        return "done"

    with local.run(app) as rt:
        rt.advance(minutes=1, run=True)
        [fired] = rt.scheduler.fired  # type: ignore[union-attr]
        record = rt.app.AsyncResult(f"p.crunch@{fired.scheduled_time}").record

    assert record is not None
    assert record.state is State.DEAD
    assert "soft_time_limit of 2 s" in str(record.reason)


def test_the_same_task_scheduled_without_limits_runs_to_its_end(app: Squall) -> None:
    @app.periodic("rate(1 hour)", name="crunch")
    def crunch() -> str:
        clock.sleep(30)
        return "done"

    with local.run(app) as rt:
        rt.advance(minutes=1, run=True)
        [fired] = rt.scheduler.fired  # type: ignore[union-attr]
        state = rt.app.AsyncResult(f"p.crunch@{fired.scheduled_time}").state

    assert state is State.SUCCESS


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
        ({"priority": "urgent"}, "priority: .*'urgent' is not a lane of queue 'reports'; give one of high, low"),
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
