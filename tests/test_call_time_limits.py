"""Time limits given per call (``apply_async(time_limit=, soft_time_limit=)``): they override the task's own for
that call and its retries, travel as envelope options, are checked when sent, and a malformed one is DEAD with its
reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from squall import InvalidArguments, SoftTimeLimitExceeded, Squall, State, clock
from squall.local import Runtime
from squall.sending import producer


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    seen: list[str] = []

    @app.task(max_retries=0)
    def unlimited(seconds: float) -> str:
        clock.sleep(seconds)
        return "finished"

    @app.task(max_retries=0)
    def tidy(seconds: float) -> str:
        try:
            clock.sleep(seconds)
        except SoftTimeLimitExceeded:
            seen.append(f"soft at {clock.now():.3f}")
            return "cleaned up"
        return "finished"

    @app.task(time_limit=40, soft_time_limit=30, max_retries=1, retry_backoff=False)
    def limited(seconds: float) -> str:
        try:
            clock.sleep(seconds)
        except SoftTimeLimitExceeded:
            seen.append("soft")
            raise
        return "finished"

    return SimpleNamespace(seen=seen, unlimited=unlimited, tidy=tidy, limited=limited)


def _reason(result: object) -> str:
    record = result.record  # type: ignore[attr-defined]
    assert record is not None
    assert record.reason is not None
    return str(record.reason)


def test_a_call_time_limit_stops_a_task_that_declares_none(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.unlimited.apply_async((50,), time_limit=2)
    started = rt.clock.now()

    rt.drain()

    assert result.state is State.DEAD
    assert "ran past its time_limit of 2 s and was stopped" in _reason(result)
    assert result.record.finished_at == pytest.approx(started + 2, abs=1e-3)


def test_the_same_task_sent_without_a_call_limit_runs_to_its_end(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.unlimited.delay(50)

    rt.drain()

    assert result.get(timeout=0) == "finished"


def test_a_call_soft_time_limit_raises_inside_the_task(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.tidy.apply_async((60,), soft_time_limit=4)
    started = rt.clock.now()

    rt.drain()

    assert result.get(timeout=0) == "cleaned up"
    assert tasks.seen == [f"soft at {started + 4:.3f}"]


def test_a_call_limit_overrides_the_tasks_own_and_its_retry_keeps_it(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.limited.apply_async((50,), time_limit=5)

    rt.poll()
    assert result.state is State.RETRY
    rt.drain()

    assert result.state is State.DEAD
    assert result.record.attempt == 2
    assert "time_limit of 5 s" in _reason(result)
    assert tasks.seen == []  # the task's soft limit (30 s) falls after the call's hard one: never raised


def test_a_call_soft_limit_under_the_tasks_hard_limit_is_raised(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.limited.apply_async((50,), soft_time_limit=3, max_retries=0)

    rt.drain()

    assert result.state is State.DEAD
    assert tasks.seen == ["soft"]
    assert "soft_time_limit of 3 s" in _reason(result)


def test_the_call_limits_travel_in_the_envelope_and_a_signature_carries_them(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    signature = tasks.unlimited.s(50).set(time_limit=7, soft_time_limit=6)
    assert signature.to_dict()["options"] == {"time_limit": 7, "soft_time_limit": 6}

    outgoing = producer.prepare(signature)
    assert outgoing.envelope.options == {"time_limit": 7.0, "soft_time_limit": 6.0}
    result = signature.delay()
    rt.drain()
    assert "soft_time_limit of 6 s" in _reason(result)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"time_limit": 0}, "time_limit 0 must be a number of seconds more than 0"),
        ({"time_limit": 1000}, "at most 895"),
        ({"soft_time_limit": "soon"}, "soft_time_limit 'soon' must be a number"),
        ({"time_limit": True}, "time_limit True must be a number"),
        ({"time_limit": 5, "soft_time_limit": 5}, "soft_time_limit 5 s must be less than time_limit 5 s"),
    ],
)
def test_unusable_call_limits_are_refused_before_anything_is_sent(
    rt: Runtime, tasks: SimpleNamespace, options: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidArguments, match=message):
        tasks.unlimited.apply_async((1,), **options)  # type: ignore[arg-type]

    assert rt.queued(rt.app.default_queue) == 0


def test_a_message_with_a_malformed_call_limit_is_dead_with_the_reason(
    rt: Runtime, tasks: SimpleNamespace, envelope_body: Callable[..., str], send_raw: Callable[..., str]
) -> None:
    body = envelope_body(tasks.unlimited.name, args=[1], v=2, options={"time_limit": -1})
    task_id = json.loads(body)["id"]

    send_raw(body)
    rt.drain()

    result = rt.app.AsyncResult(task_id)
    assert result.state is State.DEAD
    assert "time_limit -1 must be a number of seconds" in _reason(result)
    [letter] = rt.dead_letters(rt.app.default_queue)  # DLQ and DEAD agree: the message is kept, with its reason
    assert json.loads(letter.body)["id"] == task_id
