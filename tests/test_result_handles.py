"""What a handle reads again: everything but SUCCESS and REVOKED, so a redriven DEAD task is seen running again."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

from squall import AsyncResult, Squall, State, TaskFailed, TaskRevoked
from squall.clock import FakeClock
from squall.local import Runtime
from squall.ops import dlq

if TYPE_CHECKING:
    from conftest import ApiCalls


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    fixed = {"yes": False}

    @app.task(max_retries=0)
    def fragile(n: int) -> int:
        if not fixed["yes"]:
            raise ValueError(f"not fixed yet ({n})")
        return n * 10

    return SimpleNamespace(fragile=fragile, fixed=fixed)


@pytest.fixture
def dead_handle(rt: Runtime, tasks: SimpleNamespace) -> AsyncResult[int]:
    """A handle on ``fragile(4)`` that has seen the task DEAD (and raised TaskFailed from ``get``)."""
    result = tasks.fragile.delay(4)
    rt.drain()
    assert result.state is State.DEAD
    with pytest.raises(TaskFailed, match="not fixed yet"):
        result.get(timeout=0)
    return result


@pytest.fixture
def worker_runs_while_waiting(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let each wait on the fake clock run the worker once, as a deployed worker would meanwhile."""
    clock = rt.clock
    assert isinstance(clock, FakeClock)

    def sleep(seconds: float) -> None:
        rt.poll()
        FakeClock.advance(clock, seconds)

    monkeypatch.setattr(clock, "sleep", sleep)


def test_a_handle_that_saw_dead_reads_pending_then_success_after_a_redrive_and_a_run(
    rt: Runtime, tasks: SimpleNamespace, dead_handle: AsyncResult[int]
) -> None:
    # Given the task is fixed and its message redriven from the DLQ
    tasks.fixed["yes"] = True
    dlq.redrive(rt.app)

    # Then the same handle reads PENDING (and not ready), not the DEAD it saw
    assert dead_handle.state is State.PENDING
    assert (dead_handle.ready(), dead_handle.failed(), dead_handle.error) == (False, False, None)

    # When the worker runs it
    rt.drain()

    # Then the same handle reads its success
    assert dead_handle.state is State.SUCCESS
    assert dead_handle.get(timeout=0) == 40


def test_get_on_a_dead_handle_reads_the_record_each_time(
    rt: Runtime, dead_handle: AsyncResult[int], calls: ApiCalls
) -> None:
    reads = calls.count("GetItem")

    for _ in range(2):
        with pytest.raises(TaskFailed):
            dead_handle.get(timeout=0)

    assert calls.count("GetItem") == reads + 2


def test_get_waits_through_a_redrive_under_way_and_returns_the_new_result(
    rt: Runtime, tasks: SimpleNamespace, dead_handle: AsyncResult[int], worker_runs_while_waiting: None
) -> None:
    # Given a redrive has put the task back on its queue, not yet run
    tasks.fixed["yes"] = True
    dlq.redrive(rt.app)

    # When the caller waits on the handle that saw DEAD
    value = dead_handle.get(timeout=30)

    # Then it waited for the new run instead of raising the old failure
    assert value == 40


def test_a_revoked_record_is_not_read_again(rt: Runtime, tasks: SimpleNamespace, calls: ApiCalls) -> None:
    result = tasks.fragile.apply_async((1,), task_id="cancel-me")
    result.revoke()
    rt.drain()
    with pytest.raises(TaskRevoked):
        result.get(timeout=0)
    reads = calls.count("GetItem")

    assert (result.state, result.ready(), result.result) == (State.REVOKED, True, None)

    assert calls.count("GetItem") == reads
