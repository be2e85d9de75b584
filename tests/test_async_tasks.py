"""``async def`` tasks: awaited to completion on one event loop per process, with context, retries and errors."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from squall import ErrorInfo, Request, Retry, Squall, State, TaskContext, TaskDefinitionError, TaskFailed
from squall.local import Runtime
from squall.state.schema import Progress
from squall.worker import calling

#: A context variable the caller sets, to see which context a task runs in.
caller = contextvars.ContextVar("caller", default="nobody")


class WarehouseDown(Exception):
    """A custom error raised from inside an async task."""


@pytest.fixture(autouse=True)
def fresh_loop() -> Iterator[None]:
    """Each test starts without the process's event loop, and closes the one it opened."""
    calling.close()
    yield
    calling.close()


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    ran: list[str] = []
    loops: list[asyncio.AbstractEventLoop] = []

    @app.task
    async def double(x: int) -> int:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0)
        return x * 2

    @app.task
    def plain(x: int) -> int:
        return x + 1

    @app.task(ignore_result=True)
    async def notify(who: str) -> None:
        await asyncio.sleep(0)
        ran.append(who)

    @app.task(bind=True, max_retries=3, retry_backoff=1)
    async def crawl(task: TaskContext, site: str) -> dict[str, Any]:
        await asyncio.sleep(0)
        task.progress(50, f"crawling {site}")
        if task.request.attempt < 2:
            raise task.retry(countdown=5)
        return {"site": site, "attempt": task.request.attempt}

    @app.task(max_retries=1, retry_backoff=1)
    async def restock(sku: str) -> None:
        await asyncio.sleep(0)
        raise WarehouseDown(f"warehouse down for {sku}")

    @app.task
    async def whose() -> str:
        return caller.get()

    @app.task
    async def fire_and_forget(who: str) -> str:
        async def later() -> None:
            await asyncio.sleep(0)
            ran.append(who)

        asyncio.get_running_loop().create_task(later())  # not awaited: left pending on the loop
        return "returned"

    def passes_through(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return wrapper

    @app.task(ignore_result=True)
    @passes_through
    async def wrapped(who: str) -> None:
        ran.append(who)

    return SimpleNamespace(
        double=double,
        plain=plain,
        notify=notify,
        crawl=crawl,
        restock=restock,
        whose=whose,
        fire_and_forget=fire_and_forget,
        wrapped=wrapped,
        ran=ran,
        loops=loops,
    )


def context_for(task: Any, attempt: int, reports: list[Progress]) -> TaskContext:
    """A TaskContext as the worker builds it, collecting progress reports in ``reports``."""
    request = Request("t-1", task.name, attempt, "default", ("example.com",))
    return TaskContext(request, reports.append)


# --- declaring ---------------------------------------------------------------------------------------------


def test_an_async_function_is_marked_async_at_declaration_bound_or_not(tasks: SimpleNamespace) -> None:
    assert (tasks.double.is_async, tasks.crawl.is_async) == (True, True)
    assert tasks.plain.is_async is False


def test_calling_an_async_task_here_returns_its_coroutine_as_a_plain_call_would(tasks: SimpleNamespace) -> None:
    coroutine = tasks.double(4)

    assert asyncio.iscoroutine(coroutine)
    assert asyncio.run(coroutine) == 8


@pytest.mark.parametrize("kind", ["generator", "async generator"])
def test_a_generator_function_is_refused_at_declaration(app: Squall, kind: str) -> None:
    def numbers() -> Iterator[int]:
        yield 1

    async def stream() -> Any:
        yield 1

    with pytest.raises(TaskDefinitionError, match="is a generator function"):
        app.task(numbers if kind == "generator" else stream)


# --- calling.call --------------------------------------------------------------------------------------


def test_call_runs_a_plain_function_and_returns_its_value(tasks: SimpleNamespace) -> None:
    assert calling.call(tasks.plain, (1,), {}) == 2


def test_call_awaits_an_async_function_to_completion(tasks: SimpleNamespace) -> None:
    assert calling.call(tasks.double, (21,), {}) == 42
    assert calling.call(tasks.notify, ("ann",), {}) is None
    assert tasks.ran == ["ann"]


def test_async_tasks_share_one_event_loop_across_calls(tasks: SimpleNamespace) -> None:
    calling.call(tasks.double, (1,), {})
    calling.call(tasks.double, (2,), {})

    first, second = tasks.loops
    assert first is second
    assert not first.is_closed()


def test_a_bound_async_task_reports_progress_and_raises_retry_as_a_plain_one_would(tasks: SimpleNamespace) -> None:
    reports: list[Progress] = []

    with pytest.raises(Retry) as retry:
        calling.call(tasks.crawl, ("example.com",), {}, context_for(tasks.crawl, 1, reports))
    value = calling.call(tasks.crawl, ("example.com",), {}, context_for(tasks.crawl, 2, reports))

    assert retry.value.countdown == 5
    assert value == {"site": "example.com", "attempt": 2}
    assert [r.message for r in reports] == ["crawling example.com", "crawling example.com"]


def test_an_exception_from_an_async_task_comes_out_unchanged_with_its_traceback(tasks: SimpleNamespace) -> None:
    with pytest.raises(WarehouseDown, match="warehouse down for sku-1") as raised:
        calling.call(tasks.restock, ("sku-1",), {})

    assert "restock" in [frame.name for frame in raised.traceback]


def test_a_bound_task_called_without_its_context_is_a_type_error(tasks: SimpleNamespace) -> None:
    with pytest.raises(TypeError, match="has bind=True"):
        calling.call(tasks.crawl, ("example.com",), {})


def test_an_async_task_runs_in_a_copy_of_the_callers_context(tasks: SimpleNamespace) -> None:
    token = caller.set("the worker")
    try:
        assert calling.call(tasks.whose, (), {}) == "the worker"
    finally:
        caller.reset(token)


def test_call_from_inside_a_running_loop_runs_the_task_on_the_process_loop(tasks: SimpleNamespace) -> None:
    # Given the process loop, opened by a first call
    calling.call(tasks.double, (1,), {})

    # When a call comes from code that itself runs an event loop (a notebook, an async test)
    async def outer() -> tuple[int, asyncio.AbstractEventLoop]:
        return calling.call(tasks.double, (2,), {}), asyncio.get_running_loop()

    value, outer_loop = asyncio.run(outer())

    # Then the task ran to completion, on the process loop and not on the caller's
    assert value == 4
    assert tasks.loops[1] is tasks.loops[0]
    assert tasks.loops[1] is not outer_loop


def test_an_async_task_that_runs_another_through_the_worker_on_its_own_loop_is_refused(
    app: Squall, tasks: SimpleNamespace
) -> None:
    @app.task
    async def nested() -> int:
        return int(calling.call(tasks.double, (1,), {}))

    with pytest.raises(RuntimeError, match="busy running that task: await the other task's function directly"):
        calling.call(nested, (), {})


def test_work_an_async_task_leaves_pending_runs_only_while_a_later_async_task_runs(tasks: SimpleNamespace) -> None:
    # Given a task that starts work and returns without awaiting it
    assert calling.call(tasks.fire_and_forget, ("ann",), {}) == "returned"

    # Then that work has not run: it waits on the loop, neither awaited nor cancelled
    assert tasks.ran == []

    # When a later async task runs on the same loop, the left-over work advances meanwhile
    calling.call(tasks.double, (1,), {})
    assert tasks.ran == ["ann"]


def test_a_plain_function_that_returns_a_coroutine_is_refused_and_the_coroutine_closed(
    tasks: SimpleNamespace,
) -> None:
    # A decorator that is not itself `async def` hides the coroutine function from the declaration.
    assert tasks.wrapped.is_async is False

    with pytest.raises(TaskDefinitionError, match="returned coroutine, an awaitable, but its function is not"):
        calling.call(tasks.wrapped, ("ann",), {})

    assert tasks.ran == []


# --- through the worker ------------------------------------------------------------------------------------


def test_the_worker_awaits_an_async_task_and_stores_its_result(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.double.delay(21)

    rt.drain()

    assert result.state is State.SUCCESS
    assert result.get(timeout=0) == 42


def test_an_async_task_with_ignore_result_has_run_when_it_reads_success(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.notify.delay("ann")

    rt.drain()

    assert tasks.ran == ["ann"]
    assert result.state is State.SUCCESS


def test_a_bound_async_task_retries_on_request_and_its_progress_lands(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.crawl.delay("example.com")

    rt.drain()

    assert result.get(timeout=0) == {"site": "example.com", "attempt": 2}
    record = result.record
    assert record is not None
    assert record.attempt == 2
    assert result.progress is not None
    assert result.progress.message == "crawling example.com"


def test_an_exception_from_an_async_task_is_retried_then_dead_with_its_own_type(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    result = tasks.restock.delay("sku-1")

    rt.drain()

    assert result.state is State.DEAD
    error = result.error
    assert isinstance(error, ErrorInfo)
    assert (error.type, error.message) == (f"{__name__}.WarehouseDown", "warehouse down for sku-1")
    assert "restock" in error.traceback
    record = result.record
    assert record is not None
    assert record.attempt == 2
    with pytest.raises(TaskFailed):
        result.get(timeout=0)


def test_async_tasks_run_by_the_worker_share_the_process_loop(rt: Runtime, tasks: SimpleNamespace) -> None:
    tasks.double.delay(1)
    rt.drain()
    tasks.double.delay(2)
    rt.drain()

    first, second = tasks.loops
    assert first is second
