"""The worker run by the local runtime: success, failure, state, timestamps, and what a handle reads."""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from squall import ErrorInfo, ResultTimeout, Squall, State, TaskContext, TaskFailed
from squall.local import Runtime


class PaymentRefused(Exception):
    """A custom error: it must come back as strings, never as this class."""


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    @app.task
    def add(a: int, b: int) -> int:
        return a + b

    @app.task(max_retries=0)
    def refuse(order_id: str) -> None:
        raise PaymentRefused(f"card declined for {order_id}")

    @app.task
    def typed() -> dict[str, Any]:
        return {"when": dt.date(2026, 1, 2), "amount": Decimal("9.99"), "raw": b"\x01"}

    @app.task(max_retries=0)
    def unstorable() -> Any:
        return {1, 2}

    @app.task(bind=True)
    def context(task: TaskContext, *args: Any, **kwargs: Any) -> dict[str, Any]:
        request = task.request
        return {
            "id": request.id,
            "task": request.task,
            "attempt": request.attempt,
            "retries": request.retries,
            "queue": request.queue,
            "args": list(request.args),
            "kwargs": request.kwargs,
            "receive_count": request.receive_count,
        }

    return SimpleNamespace(add=add, refuse=refuse, typed=typed, unstorable=unstorable, context=context)


# --- success ---------------------------------------------------------------------------------------------


def test_successful_task_records_state_result_attempt_and_timestamps(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given
    sent_at = rt.clock.now()
    result = tasks.add.delay(2, 3)
    rt.advance(5)

    # When
    rt.drain()

    # Then
    assert result.state is State.SUCCESS
    assert result.get(timeout=0) == 5
    assert (result.ready(), result.successful(), result.failed()) == (True, True, False)
    assert result.result == 5
    assert result.info == 5
    record = result.record
    assert record is not None
    assert record.attempt == 1
    assert record.name == tasks.add.name
    assert record.queue == "default"
    assert record.created_at == pytest.approx(sent_at)
    assert record.started_at is not None
    assert record.finished_at is not None
    assert sent_at < record.started_at <= record.finished_at
    assert record.updated_at == record.finished_at
    assert record.error is None
    assert record.reason is None
    assert record.lease_until is None
    assert rt.queued() == 0


def test_results_keep_their_types(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.typed.delay()

    rt.drain()

    assert result.get(timeout=0) == {"when": dt.date(2026, 1, 2), "amount": Decimal("9.99"), "raw": b"\x01"}


def test_bound_task_receives_its_request(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.context.apply_async((1, "two"), {"three": 3}, task_id="ctx-1")

    rt.drain()

    assert result.get(timeout=0) == {
        "id": "ctx-1",
        "task": tasks.context.name,
        "attempt": 1,
        "retries": 0,
        "queue": "default",
        "args": [1, "two"],
        "kwargs": {"three": 3},
        "receive_count": 1,
    }


def test_state_changes_are_announced_to_listeners_in_order(rt: Runtime, app: Squall, tasks: SimpleNamespace) -> None:
    seen: list[tuple[str, State]] = []
    rt.on_transition(lambda task_id, state, _at: seen.append((task_id, state)))

    result = tasks.add.delay(1, 1)
    rt.drain()

    assert seen == [(result.id, State.STARTED), (result.id, State.SUCCESS)]


def test_a_listener_that_raises_changes_no_outcome(rt: Runtime, app: Squall, tasks: SimpleNamespace) -> None:
    # Given a listener that fails on every transition, beside one that records them
    seen: list[State] = []

    def broken(task_id: str, state: State, at: float) -> None:
        raise RuntimeError("a listener's own bug")

    rt.on_transition(broken)
    rt.on_transition(lambda task_id, state, _at: seen.append(state))

    # When a task runs
    result = tasks.add.delay(2, 3)
    rt.drain()

    # Then the task succeeded, and the listener after the broken one heard every transition
    assert result.get(timeout=0) == 5
    assert seen == [State.STARTED, State.SUCCESS]
    assert rt.invocations[-1].error is None


# --- reading before it finishes --------------------------------------------------------------------------


def test_unknown_task_id_reads_pending(rt: Runtime, app: Squall) -> None:
    result = app.AsyncResult("never-sent")

    assert result.state is State.PENDING
    assert (result.ready(), result.successful(), result.failed()) == (False, False, False)
    assert result.result is None
    assert result.info is None
    assert result.progress is None
    assert result.record is None


def test_get_before_the_task_ran_raises_result_timeout(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.add.delay(1, 2)

    with pytest.raises(ResultTimeout, match="PENDING"):
        result.get(timeout=0)


def test_get_waits_on_the_fake_clock_without_sleeping(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given a task nobody runs
    result = tasks.add.delay(1, 2)
    started, wall = rt.clock.now(), time.monotonic()

    # When get waits 30 s
    with pytest.raises(ResultTimeout):
        result.get(timeout=30)

    # Then 30 s passed on the fake clock, and hardly any on the wall clock
    assert rt.clock.now() - started == pytest.approx(30, abs=0.01)
    assert time.monotonic() - wall < 5


# --- failure ---------------------------------------------------------------------------------------------


def test_dead_task_raises_task_failed_with_the_error_as_strings(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given
    result = tasks.refuse.delay("o-9")

    # When
    rt.drain()

    # Then
    assert result.state is State.DEAD
    assert (result.ready(), result.successful(), result.failed()) == (True, False, True)
    with pytest.raises(TaskFailed) as failed:
        result.get(timeout=0)
    error = failed.value
    assert error.task_id == result.id
    assert error.exc_type == f"{PaymentRefused.__module__}.PaymentRefused"
    assert error.message == "card declined for o-9"
    assert "Traceback (most recent call last)" in error.traceback
    assert "raise PaymentRefused" in error.traceback
    assert result.info == ErrorInfo(error.exc_type, error.message, error.traceback)


def test_error_is_never_rebuilt_into_its_exception_class(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.refuse.delay("o-9")
    rt.drain()

    with pytest.raises(TaskFailed) as failed:
        result.get(timeout=0)

    assert not isinstance(failed.value, PaymentRefused)
    assert type(failed.value.exc_type) is str
    assert type(failed.value.traceback) is str
    assert failed.value.__cause__ is None


def test_builtin_exception_type_is_stored_without_module(rt: Runtime, app: Squall) -> None:
    @app.task(max_retries=0)
    def divide() -> float:
        return 1 / 0

    result = divide.delay()
    rt.drain()

    assert result.error is not None
    assert result.error.type == "ZeroDivisionError"


def test_result_json_cannot_carry_makes_the_task_dead(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.unstorable.delay()

    rt.drain()

    assert result.state is State.DEAD
    record = result.record
    assert record is not None
    assert record.reason is not None
    assert "return value cannot be stored" in record.reason
    assert "set" in record.reason


def test_result_over_the_item_limit_makes_the_task_dead(no_payload_bucket: None, rt: Runtime, app: Squall) -> None:
    @app.task
    def huge() -> str:
        return "x" * 400_000

    result = huge.delay()
    rt.drain()

    assert result.state is State.DEAD
    assert result.error is not None
    assert result.error.type == "ResultTooLarge"


# --- ETA ahead of time -----------------------------------------------------------------------------------


def test_message_that_arrives_long_before_its_eta_waits_until_then(
    rt: Runtime, tasks: SimpleNamespace, send_raw: Any, envelope_body: Any
) -> None:
    # Given a message visible now whose eta is an hour away (as a Scheduler-fed or redriven message can be)
    eta = rt.clock.now() + 3600
    send_raw(envelope_body(tasks.add.name, args=[1, 2], id="later", eta=eta))

    # When it is received
    assert rt.poll() == 1

    # Then it did not run, and it comes back at its eta
    assert rt.invocations[-1].kept == set(rt.invocations[-1].message_ids)
    assert rt.app.AsyncResult("later").state is State.PENDING
    assert rt.next_wakeup() == pytest.approx(eta, abs=1)
    rt.drain()
    assert rt.clock.now() >= eta
    assert rt.app.AsyncResult("later").get(timeout=0) == 3


def test_message_within_a_minute_of_its_eta_runs_at_once(
    rt: Runtime, tasks: SimpleNamespace, send_raw: Any, envelope_body: Any
) -> None:
    send_raw(envelope_body(tasks.add.name, args=[1, 2], id="nearly", eta=rt.clock.now() + 30))

    rt.poll()

    assert rt.app.AsyncResult("nearly").get(timeout=0) == 3


def test_task_returning_none_stores_null(rt: Runtime, app: Squall) -> None:
    @app.task
    def nothing() -> None:
        return None

    result = nothing.delay()
    rt.drain()

    assert result.state is State.SUCCESS
    assert result.get(timeout=0) is None
    assert result.record is not None
    assert json.loads(result.record.result_json or "") is None
