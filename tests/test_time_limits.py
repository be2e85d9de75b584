"""Time limits: soft_time_limit raises inside the task (sync and async), time_limit stops the run as a failed attempt
with its reason, on the fake clock and on the real one, and limits that cannot fit the worker are refused."""

from __future__ import annotations

import asyncio
import signal
import time
from types import SimpleNamespace

import pytest

from squall import (
    SoftTimeLimitExceeded,
    Squall,
    State,
    TaskDefinitionError,
    TimeLimitExceeded,
    WorkerSizing,
    clock,
    local,
)
from squall.deploy.topology import describe
from squall.local import Runtime
from squall.worker import calling


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    seen: list[str] = []

    @app.task(soft_time_limit=10, max_retries=0)
    def tidy(seconds: float) -> str:
        try:
            clock.sleep(seconds)
        except SoftTimeLimitExceeded:
            seen.append(f"cleaning up at {clock.now():.3f}")
            return "cleaned up"
        return "finished"

    @app.task(time_limit=30, max_retries=0)
    def stubborn() -> str:
        try:
            clock.sleep(100)
        except Exception:  # a task's own catch-all cannot keep it past its hard limit
            seen.append("swallowed")
        return "escaped"

    @app.task(soft_time_limit=5, time_limit=8, max_retries=0)
    def slow_cleanup() -> None:
        try:
            clock.sleep(60)
        except SoftTimeLimitExceeded:
            seen.append("soft")
            clock.sleep(60)  # cleanup that itself overruns: the hard limit stops it
        finally:
            seen.append("finally")

    @app.task(time_limit=20, max_retries=1, retry_backoff=False)
    def overrun() -> None:
        clock.sleep(50)

    @app.task(soft_time_limit=3, max_retries=0)
    async def fetch() -> str:
        await asyncio.sleep(0)
        try:
            clock.sleep(10)  # on the fake clock, time passes in its sleeps
        except SoftTimeLimitExceeded:
            return "async cleaned up"
        return "async finished"

    @app.task(time_limit=30, soft_time_limit=20)
    def quick() -> int:
        clock.sleep(1)
        return 42

    return SimpleNamespace(
        seen=seen,
        tidy=tidy,
        stubborn=stubborn,
        slow_cleanup=slow_cleanup,
        overrun=overrun,
        fetch=fetch,
        quick=quick,
    )


def test_soft_limit_raises_inside_the_task_at_the_limit_so_it_can_clean_up(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.tidy.delay(seconds=60)
    started = rt.clock.now()

    rt.drain()

    assert result.get(timeout=0) == "cleaned up"
    assert tasks.seen == [f"cleaning up at {started + 10:.3f}"]


def test_a_run_within_its_soft_limit_is_not_interrupted(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.tidy.delay(seconds=9)

    rt.drain()

    assert result.get(timeout=0) == "finished"
    assert tasks.seen == []


def test_hard_limit_stops_the_run_as_a_failed_attempt_with_a_reason(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.stubborn.delay()

    rt.drain()

    assert result.state is State.DEAD
    assert tasks.seen == []  # its `except Exception` never saw the hard limit
    record = result.record
    assert record is not None
    assert record.error is not None
    assert record.error.type == "squall.errors.TimeLimitExceeded"
    assert record.reason is not None
    assert "ran past its time_limit of 30 s and was stopped" in record.reason


def test_hard_limit_stops_a_cleanup_that_overruns_and_finally_blocks_run(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.slow_cleanup.delay()
    started = rt.clock.now()

    rt.drain()

    assert result.state is State.DEAD
    assert tasks.seen == ["soft", "finally"]
    record = result.record
    assert record is not None
    assert record.reason is not None
    assert "time_limit of 8 s" in record.reason
    assert record.finished_at == pytest.approx(started + 8, abs=1e-3)


def test_a_run_stopped_by_its_hard_limit_is_retried_within_its_budget(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.overrun.delay()

    rt.poll()
    assert result.state is State.RETRY
    assert result.error is not None
    assert result.error.type == "squall.errors.TimeLimitExceeded"

    rt.drain()
    assert result.state is State.DEAD
    record = result.record
    assert record is not None
    assert record.attempt == 2


def test_async_task_gets_its_soft_limit_on_the_fake_clock(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.fetch.delay()

    rt.drain()

    assert result.get(timeout=0) == "async cleaned up"


def test_limits_leave_a_run_that_fits_alone(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.quick.delay()

    rt.drain()

    assert result.get(timeout=0) == 42


# --- on the real clock --------------------------------------------------------------------------------


def test_real_clock_soft_limit_interrupts_a_blocking_sleep_of_a_plain_task(app: Squall) -> None:
    @app.task(soft_time_limit=0.05)
    def nap() -> str:
        try:
            time.sleep(30)
        except SoftTimeLimitExceeded:
            return "woken"
        return "slept"

    assert calling.call(nap, (), {}) == "woken"


def test_real_clock_hard_limit_stops_a_plain_task_past_its_soft_limit(app: Squall) -> None:
    @app.task(soft_time_limit=0.02, time_limit=0.06)
    def nap() -> None:
        try:
            time.sleep(30)
        except SoftTimeLimitExceeded:
            time.sleep(30)

    with pytest.raises(TimeLimitExceeded, match=r"time_limit of 0\.06 s"):
        calling.call(nap, (), {})


def test_real_clock_soft_limit_is_thrown_into_an_async_task_where_it_awaits(app: Squall) -> None:
    @app.task(soft_time_limit=0.05)
    async def wait() -> str:
        try:
            await asyncio.sleep(30)
        except SoftTimeLimitExceeded:
            await asyncio.sleep(0)  # the loop is still usable after the limit
            return "woken"
        return "slept"

    assert calling.call(wait, (), {}) == "woken"


def test_real_clock_hard_limit_stops_an_async_task(app: Squall) -> None:
    @app.task(time_limit=0.05)
    async def wait() -> None:
        try:
            await asyncio.sleep(30)
        except Exception:
            await asyncio.sleep(30)

    @app.task
    async def after() -> str:
        await asyncio.sleep(0)
        return "ran"

    with pytest.raises(TimeLimitExceeded):
        calling.call(wait, (), {})
    assert calling.call(after, (), {}) == "ran"  # the process's loop survives a stopped task


def test_real_clock_limits_leave_the_signal_handler_as_they_found_it(app: Squall) -> None:
    @app.task(soft_time_limit=5)
    def fast() -> int:
        return 1

    before = signal.getsignal(signal.SIGALRM)
    assert calling.call(fast, (), {}) == 1
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


# --- declaring ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"time_limit": 0}, "time_limit 0 must be a number of seconds more than 0"),
        ({"time_limit": -1}, "time_limit -1 must be"),
        ({"soft_time_limit": 900}, "soft_time_limit 900 must be a number of seconds more than 0 and at most 895"),
        ({"time_limit": "30"}, "time_limit '30' must be"),
        ({"time_limit": True}, "time_limit True must be"),
        ({"time_limit": 10, "soft_time_limit": 10}, "soft_time_limit 10 s must be less than time_limit 10 s"),
    ],
)
def test_unusable_time_limits_are_refused_when_declared(app: Squall, options: dict[str, object], message: str) -> None:
    with pytest.raises(TaskDefinitionError, match=message):
        app.task(name="limited", **options)(lambda: None)  # type: ignore[call-overload]


def test_a_time_limit_past_the_worker_timeout_is_refused_at_deploy_and_locally(app: Squall) -> None:
    @app.task(time_limit=300)
    def report() -> None: ...

    with pytest.raises(TaskDefinitionError, match=r"time_limit 300 s does not fit in the worker's 60 s timeout"):
        describe(app)
    with pytest.raises(TaskDefinitionError, match="squall:timeout"), local.run(app):
        pass
    assert describe(app, WorkerSizing(timeout=305)).sizing.timeout == 305
