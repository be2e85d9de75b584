"""squall.celery's ``priority`` picks a lane of a queue declared with lanes (RabbitMQ's order, or Redis's when the
transport options say so), ``routing_key`` reaches the queue bound with it, and ``time_limit`` /
``soft_time_limit`` given per call or in a beat entry are enforced, as Celery's worker enforces them."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from kombu import Queue as KombuQueue

from squall import Queue, State, local
from squall.celery import Celery
from squall.celery.exceptions import QueueNotFound, SoftTimeLimitExceeded
from squall.celery.routes import lane_for
from squall.clock import sleep
from squall.errors import InvalidArguments
from squall.scheduler.periodic import schedule_resources


def laned(lanes: tuple[str, ...] = ("high", "low"), **settings: Any) -> Celery:
    return Celery(
        "prio", task_queues=["celery", Queue("emails", lanes=lanes, max_concurrency=2 * len(lanes))], **settings
    )


@pytest.mark.parametrize(
    ("priority", "lane"), [(9, "high"), (5, "high"), (4, "low"), (0, "low"), (200, "high"), (-3, "low")]
)
def test_rabbitmqs_order_puts_the_highest_numbers_on_the_first_lane(priority: int, lane: str) -> None:
    assert lane_for(laned(), "emails", priority) == lane


@pytest.mark.parametrize(("priority", "lane"), [(0, "high"), (4, "high"), (5, "low"), (9, "low")])
def test_redis_order_puts_the_lowest_numbers_on_the_first_lane(priority: int, lane: str) -> None:
    app = laned(broker_transport_options={"queue_order_strategy": "priority", "priority_steps": list(range(10))})

    assert lane_for(app, "emails", priority) == lane


def test_three_lanes_split_the_range_and_task_queue_max_priority_sets_its_top() -> None:
    three = laned(("high", "normal", "low"))
    wide = laned(("high", "normal", "low"), task_queue_max_priority=255)

    redis = laned(("high", "normal", "low"), broker_transport_options={"queue_order_strategy": "priority"})

    assert [lane_for(three, "emails", p) for p in range(10)] == ["low"] * 3 + ["normal"] * 3 + ["high"] * 4
    assert [lane_for(redis, "emails", p) for p in range(10)] == ["high"] * 4 + ["normal"] * 3 + ["low"] * 3
    assert [lane_for(wide, "emails", p) for p in (255, 170, 169, 85, 84, 0)] == [
        "high",
        "high",
        "normal",
        "normal",
        "low",
        "low",
    ]


def test_a_lanes_name_is_kept_and_a_priority_that_is_no_number_is_refused() -> None:
    app = laned()

    assert lane_for(app, "emails", "low") == "low"
    with pytest.raises(InvalidArguments, match=r"priority=2.5: give Celery's priority as an integer"):
        lane_for(app, "emails", 2.5)


def test_calls_travel_on_the_lane_their_priority_picks() -> None:
    app = laned()

    @app.task(queue="emails")
    def send(n: int) -> int:
        return n

    @app.task(queue="emails", priority=9)
    def alert(n: int) -> int:
        return n

    with local.run(app) as rt:
        send.apply_async((1,), priority=9)
        send.apply_async((2,), priority=1)
        send.delay(3)  # no priority: the queue's default lane, the lowest
        alert.delay(4)  # the task's own priority
        send.signature((5,), priority=8).delay()
        counts = (rt.queued("emails:high"), rt.queued("emails:low"))
        rt.drain()

    assert counts == (3, 2)


def test_task_default_priority_applies_to_calls_that_give_none() -> None:
    app = laned(task_default_priority=7)

    @app.task(queue="emails")
    def send(n: int) -> int:
        return n

    with local.run(app) as rt:
        send.delay(1)
        send.apply_async((2,), priority=0)
        assert (rt.queued("emails:high"), rt.queued("emails:low")) == (1, 1)


def test_a_priority_on_a_queue_without_lanes_is_sent_as_is_and_noted_once(caplog: pytest.LogCaptureFixture) -> None:
    app = Celery("plain-prio")

    @app.task
    def ping() -> str:
        return "pong"

    with local.run(app) as rt, caplog.at_level(logging.WARNING, logger="squall.celery"):
        first, second = ping.apply_async(priority=3), ping.apply_async(priority=5)
        rt.drain()
        assert (first.get(), second.get()) == ("pong", "pong")

    notes = [r.getMessage() for r in caplog.records if "no priority lanes" in r.getMessage()]
    assert len(notes) == 1
    assert "queue 'celery' has no priority lanes, so priority= does nothing there" in notes[0]


def test_a_call_time_limit_stops_the_run_and_its_state_is_failure() -> None:
    app = Celery("limits")

    @app.task
    def crunch() -> str:
        sleep(50)
        return "done"

    with local.run(app) as rt:
        stopped = crunch.apply_async(time_limit=2)
        free = crunch.apply_async()
        rt.drain()
        assert stopped.state == "FAILURE"
        assert "ran past its time_limit of 2 s" in str(stopped.result)
        assert free.get() == "done"


def test_a_call_soft_time_limit_raises_celerys_exception_inside_the_task() -> None:
    app = Celery("soft")

    @app.task
    def crunch() -> str:
        try:
            sleep(50)
        except SoftTimeLimitExceeded:
            return "cleaned up"
        return "done"

    with local.run(app) as rt:
        soft = crunch.apply_async(soft_time_limit=3)
        dropped = crunch.apply_async(soft_time_limit=9, time_limit=5)  # Celery's rule: the hard one strikes first
        rt.drain()
        assert soft.get() == "cleaned up"
        assert dropped.state == "FAILURE"
        assert "time_limit of 5 s" in str(dropped.result)


def test_a_beat_entrys_time_limits_and_priority_reach_its_firings() -> None:
    app = laned()

    @app.task(name="beat.digest", queue="emails")
    def digest() -> None:
        sleep(50)

    app.conf.beat_schedule = {
        "urgent digest": {
            "task": "beat.digest",
            "schedule": 3600.0,
            "options": {"priority": 9, "time_limit": 4, "soft_time_limit": 6},
        },
    }

    [resource] = schedule_resources(app)
    assert resource.queue == "emails:high"
    options = json.loads(resource.input)["options"]
    assert (options["lane"], options["time_limit"]) == ("high", 4.0)
    assert "soft_time_limit" not in options  # at or past the hard limit: never raised, as in Celery
    with local.run(app) as rt:
        rt.advance(seconds=1, run=True)
        [fired] = rt.scheduler.fired  # type: ignore[union-attr]
        record = app.store.get(f"{resource.name}@{fired.scheduled_time}")

    assert record is not None
    assert record.state is State.DEAD
    assert "time_limit of 4 s" in str(record.reason)


def test_a_routing_key_reaches_the_queue_bound_with_it_or_named_by_it() -> None:
    app = Celery("keys", task_queues=["celery", "emails", KombuQueue("mail", routing_key="mail.send")])

    @app.task
    def note(n: int) -> int:
        return n

    @app.task(routing_key="emails")
    def keyed(n: int) -> int:
        return n

    with local.run(app) as rt:
        by_name = note.apply_async((1,), routing_key="emails")
        by_binding = note.apply_async((2,), routing_key="mail.send")
        by_attribute = keyed.delay(3)
        with pytest.raises(QueueNotFound, match=r"routing_key 'nowhere' .* reaches no declared queue"):
            note.apply_async((4,), routing_key="nowhere")
        queued = {queue: rt.queued(queue) for queue in ("celery", "emails", "mail")}
        rt.drain()
        assert [app.store.get(r.id).queue for r in (by_name, by_binding, by_attribute)] == ["emails", "mail", "emails"]

    assert queued == {"celery": 0, "emails": 2, "mail": 1}
