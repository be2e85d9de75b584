"""Expiry: a task past its ``expires`` is REVOKED as expired and never run, however it got there.

Immediate, delayed (SQS's delay), retried (a RETRY past expiry), long-delayed (a schedule that fires after the
expiry), a task-level ``expires``, an aware datetime, an ``expires`` before the countdown (accepted, revoked when
due, as Celery does), a chain whose head expires, and the bad values refused at declaration and at send.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from squall import Squall, State, chain, local
from squall.errors import InvalidArguments, TaskDefinitionError
from squall.local import Runtime
from squall.worker.deadletters import REASON_ATTRIBUTE

DAY = 86400


@pytest.fixture
def app() -> Squall:
    return Squall("expiry", queues=["default"])


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    runs: list[str] = []
    failures: dict[str, int] = {}

    @app.task
    def note(label: str) -> str:
        runs.append(label)
        return label

    @app.task(expires=30)
    def fresh(label: str) -> str:
        runs.append(label)
        return label

    @app.task(retry_backoff=100, retry_jitter=False, max_retries=3)
    def flaky(label: str) -> str:
        failures[label] = failures.get(label, 0) + 1
        runs.append(label)
        if failures[label] == 1:
            raise ConnectionError("first attempt fails")
        return label

    return SimpleNamespace(note=note, fresh=fresh, flaky=flaky, runs=runs)


@pytest.fixture
def rt(app: Squall, tasks: SimpleNamespace) -> Iterator[Runtime]:
    with local.run(app) as runtime:
        yield runtime


def expired_reason(rt: Runtime, task_id: str) -> str:
    record = rt.app.store.get(task_id)
    assert record is not None
    assert record.state is State.REVOKED
    assert record.reason is not None
    assert "expired" in record.reason
    return record.reason


def test_a_task_received_after_its_expiry_is_revoked_as_expired_and_never_run(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    late = tasks.note.apply_async(("late",), expires=30)
    on_time = tasks.note.apply_async(("on time",), expires=3600)
    rt.advance(31)  # the worker was not polling: the first is received past its expiry

    rt.drain()

    assert tasks.runs == ["on time"]
    assert late.state is State.REVOKED
    assert "send it again with a later expires" in expired_reason(rt, late.id)
    assert on_time.get(timeout=0) == "on time"
    assert rt.dead_letters() == []
    assert rt.queued() == 0
    record = rt.app.store.get(late.id)
    assert record is not None
    assert record.name == tasks.note.name
    assert record.queue == "default"


def test_the_task_option_applies_to_every_call_and_a_call_overrides_it(rt: Runtime, tasks: SimpleNamespace) -> None:
    by_task = tasks.fresh.delay("task option")
    by_call = tasks.fresh.apply_async(("call option",), expires=120)
    rt.advance(60)

    rt.drain()

    expired_reason(rt, by_task.id)
    assert tasks.runs == ["call option"]
    assert by_call.state is State.SUCCESS


def test_an_aware_datetime_expires_and_an_expiry_before_the_countdown_is_revoked_when_due(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    start = rt.clock.now()
    when = dt.datetime.fromtimestamp(start + 10, dt.UTC)
    first = tasks.note.apply_async(("at a datetime",), countdown=60, expires=when)
    second = tasks.note.apply_async(("runs",), countdown=60, expires=when + dt.timedelta(minutes=5))

    rt.drain()

    expired_reason(rt, first.id)
    assert tasks.runs == ["runs"]
    assert second.state is State.SUCCESS
    assert rt.clock.now() >= start + 60  # revoked when it was due, not when it was sent


def test_a_retry_due_after_the_expiry_is_not_run_again(rt: Runtime, tasks: SimpleNamespace) -> None:
    # The first attempt fails; the retry comes 100 s later, after the expiry (50 s)
    result = tasks.flaky.apply_async(("retried",), expires=50)

    rt.drain()

    assert tasks.runs == ["retried"]  # once: the retry expired
    expired_reason(rt, result.id)
    assert rt.dead_letters() == []
    assert rt.queued() == 0


def test_a_long_delayed_task_whose_schedule_fires_after_its_expiry_is_not_run(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    result = tasks.note.apply_async(("in three days",), countdown=3 * DAY, expires=DAY)
    kept = tasks.note.apply_async(("in two days",), countdown=2 * DAY, expires=3 * DAY)
    assert result.state is State.PENDING

    rt.drain(horizon=4 * DAY)

    expired_reason(rt, result.id)
    assert tasks.runs == ["in two days"]
    assert kept.state is State.SUCCESS


def test_a_chain_whose_head_expires_ends_without_running_its_later_steps(rt: Runtime, tasks: SimpleNamespace) -> None:
    workflow = chain(tasks.note.si("head").set(expires=10, countdown=20), tasks.note.si("second"))
    handle = workflow.apply_async()

    rt.drain()

    assert tasks.runs == []
    assert handle.state is not State.SUCCESS
    assert rt.queued() == 0
    record = rt.app.store.get(handle.id)
    assert record is not None
    assert record.state in (State.DEAD, State.REVOKED)
    assert record.reason is not None
    assert "was revoked" in record.reason
    assert [m.attributes[REASON_ATTRIBUTE] for m in rt.dead_letters()] == []


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), "30", True, 10_000 * DAY])
def test_an_unusable_task_expires_is_refused_at_declaration(app: Squall, value: object) -> None:
    with pytest.raises(TaskDefinitionError, match="option 'expires'"):
        app.task(expires=value)(lambda: None)  # type: ignore[call-overload]


@pytest.mark.parametrize("value", [0, -5, "soon", dt.datetime(2030, 1, 1)])
def test_an_unusable_call_expires_is_refused_at_send_and_nothing_is_sent(
    rt: Runtime, tasks: SimpleNamespace, value: object
) -> None:
    with pytest.raises(InvalidArguments, match="option 'expires'"):
        tasks.note.apply_async(("x",), expires=value)  # type: ignore[arg-type]
    assert rt.queued() == 0


def test_a_periodic_firing_of_a_task_with_expires_expires_after_its_scheduled_time(app: Squall) -> None:
    runs: list[float] = []

    @app.periodic("rate(1 hour)", name="tick")
    @app.task(expires=120)
    def tick() -> None:
        runs.append(1)

    with local.run(app) as rt:
        seen: list[tuple[str, State]] = []
        rt.on_transition(lambda task_id, state, at: seen.append((task_id, state)))
        rt.advance(hours=1, minutes=1)  # it fired twice; the worker was not polling
        rt.advance(minutes=5)
        rt.drain()  # received 6 minutes after it fired: past the task's 120 s
        assert runs == []
        revoked = [task_id for task_id, state in seen if state is State.REVOKED]
        assert len(revoked) == 2  # the firing at creation (as a rate schedule's first) and the one an hour later
        for task_id in revoked:
            expired_reason(rt, task_id)
        rt.advance(hours=1, run=True)  # the next firing is received in time and runs
        assert runs == [1]


def test_a_periodic_schedules_own_expires_outlasts_a_late_firing_only_that_long(app: Squall) -> None:
    runs: list[float] = []

    @app.periodic("rate(1 hour)", name="digest", expires=600)
    def digest() -> None:
        runs.append(1)

    with pytest.raises(TaskDefinitionError, match="option 'expires'"):
        app.periodic("rate(1 hour)", name="bad", expires=0)
    with local.run(app) as rt:
        rt.advance(minutes=5)
        rt.drain()  # the firing at creation, received 5 minutes late: within its 10 minutes
        assert runs == [1]
        rt.advance(minutes=70)  # the next firing, 15 minutes before it is received
        rt.drain()
        assert runs == [1]
        assert rt.queued() == 0
        assert rt.dead_letters() == []
