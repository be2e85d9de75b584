"""Progress: the first report is written at once, later ones are coalesced, the last lands with the final write."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from squall import EncodeError, Progress, Request, Squall, State, TaskContext, clock
from squall.local import Runtime

if TYPE_CHECKING:
    from conftest import ApiCalls


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    seen: list[Any] = []

    @app.task(bind=True)
    def busy(task: TaskContext, reports: int) -> str:
        for i in range(1, reports + 1):
            task.progress(100 * i / reports, f"step {i}", step=i)
        return "done"

    @app.task(bind=True)
    def paced(task: TaskContext) -> str:
        task.progress(10, "first")
        clock.sleep(1.5)  # work taking 1.5 s, on the runtime's fake clock
        task.progress(20, "second")
        clock.sleep(0.2)
        task.progress(30, "third")
        return "done"

    @app.task(bind=True)
    def watched(task: TaskContext) -> str:
        task.progress(40, "aggregating", rows=1200)
        seen.append(app.AsyncResult(task.request.id))
        seen.append((seen[0].state, seen[0].progress, seen[0].info))
        return "done"

    @app.task(bind=True, max_retries=1)
    def retried(task: TaskContext) -> str:
        if task.request.attempt == 1:
            task.progress(10, "before")
            task.progress(50, "halfway")
            raise task.retry(countdown=10)
        return "done"

    return SimpleNamespace(busy=busy, paced=paced, watched=watched, retried=retried, seen=seen)


def writes_for(calls: ApiCalls, task_id: str) -> int:
    """DynamoDB UpdateItem requests that touched ``task_id``'s item."""
    return sum(1 for params in calls.params("UpdateItem") if params["Key"]["pk"]["S"] == f"task#{task_id}")


def test_quick_reports_are_coalesced_into_at_most_three_writes(
    rt: Runtime, tasks: SimpleNamespace, calls: ApiCalls
) -> None:
    # Given a task that reports progress 10 times within the same second
    result = tasks.busy.delay(reports=10)

    # When it runs
    rt.drain()

    # Then: claim, the first report, and the finish carrying the last report; nothing else
    assert writes_for(calls, result.id) == 3
    assert calls.count("GetItem") == 0
    assert result.progress == Progress(100.0, "step 10", {"step": 10})
    assert result.get(timeout=0) == "done"


def test_reports_a_second_apart_are_each_written(rt: Runtime, tasks: SimpleNamespace, calls: ApiCalls) -> None:
    result = tasks.paced.delay()

    rt.drain()

    # claim, "first", "second" (1.5 s later), and finish carrying "third" (0.2 s after that)
    assert writes_for(calls, result.id) == 4
    assert result.progress == Progress(30.0, "third", {})


def test_progress_is_readable_while_the_task_runs(rt: Runtime, tasks: SimpleNamespace) -> None:
    tasks.watched.delay()

    rt.drain()

    handle, (state, progress, info) = tasks.seen
    assert state is State.STARTED
    assert progress == Progress(40.0, "aggregating", {"rows": 1200})
    assert info == progress
    assert handle.progress == progress  # and it stays after the task finished


def test_pending_report_lands_with_the_retry_write(rt: Runtime, tasks: SimpleNamespace, calls: ApiCalls) -> None:
    result = tasks.retried.delay()

    rt.poll()

    assert result.state is State.RETRY
    assert result.progress == Progress(50.0, "halfway", {})
    assert writes_for(calls, result.id) == 3  # claim, first report, retry carrying the second


def test_task_without_reports_has_no_progress(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.busy.delay(reports=0)

    rt.drain()

    assert result.progress is None


@pytest.mark.parametrize("percent", [-1, 100.5, 1_000])
def test_percent_outside_0_to_100_is_refused(percent: float) -> None:
    context = TaskContext(Request("t", "task", 1, "default"), lambda _: None)

    with pytest.raises(ValueError, match="0-100"):
        context.progress(percent)


def test_progress_meta_must_be_json() -> None:
    context = TaskContext(Request("t", "task", 1, "default"), lambda _: None)

    with pytest.raises(EncodeError, match="progress meta"):
        context.progress(10, "x", rows={1, 2})


def test_progress_report_reaches_the_reporter_as_given() -> None:
    reports: list[Progress] = []
    context = TaskContext(Request("t", "task", 1, "default"), reports.append)

    context.progress(25, "loading", file="a.csv")

    assert reports == [Progress(25.0, "loading", {"file": "a.csv"})]
