"""Calling a task's function: a plain one directly, an ``async def`` one to completion on the process's event loop.

There is one event loop per process (in Lambda, per execution environment). It is created by the first async
task and reused by every later one, so that clients a task keeps at module level (an aiohttp session, an
aiobotocore client) stay bound to a loop that is still open; ``asyncio.run`` would close the loop after each
call. The task's coroutine runs to completion, and the worker records the outcome when it returns or raises.
What it raises (``Retry`` included) comes out of :func:`call` as it would from a plain function.

**Work a task starts and does not await** (``asyncio.create_task(...)`` without ``await``) is neither awaited
nor cancelled. The task's outcome is recorded as soon as its own coroutine returns; the left-over work stays on
the loop, suspended, and makes progress only while a later async task of the same process runs. Lambda freezes
the environment between invocations and may end it at any time, so that work may never finish. Await
everything a task starts (``asyncio.gather``, ``asyncio.TaskGroup``). At interpreter exit the loop is closed,
which cancels whatever is left on it.

The coroutine runs in a copy of the caller's context (``contextvars``). The loop runs one task at a time: a
second thread waits for it. Within :func:`shared_loop` (a batch whose queue sets ``batch_concurrency`` above 1) the
same loop runs in a thread of its own instead, and the coroutines of every thread that calls :func:`run` meanwhile
run on it together, each awaiting its I/O while the others progress. A call from a thread that is already running
an event loop (a notebook, an async test) runs the coroutine on the process loop in a helper thread and waits for
it there, blocking the caller's loop for that time as a plain function would.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import inspect
import threading
from collections.abc import Coroutine, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from squall.errors import TaskDefinitionError
from squall.worker import timelimits

if TYPE_CHECKING:
    from squall.tasks.task import Task, TaskContext

T = TypeVar("T")

_lock = threading.Lock()  # one coroutine at a time on the loop; guards creating it too
_runner: asyncio.Runner | None = None
_helper: ThreadPoolExecutor | None = None  # for calls made while the calling thread's own loop is running
_shared: asyncio.AbstractEventLoop | None = None  # the process loop while shared_loop() runs it in its own thread


def call(
    task: Task[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    context: TaskContext | None = None,
    options: Mapping[str, Any] | None = None,
) -> Any:
    """Run ``task``'s function once and return its value; what it raises propagates unchanged.

    ``context`` is what a ``bind=True`` task receives first (required for those, and only given to them). An
    ``async def`` task is awaited on the process's event loop (see the module). The task's ``time_limit`` and
    ``soft_time_limit`` apply, or the call's own in its envelope ``options`` (:mod:`squall.worker.timelimits`).
    """
    if task.options.bind:
        if context is None:
            raise TypeError(f"task {task.name} has bind=True: pass the TaskContext it receives first")
        args = (context, *args)
    bounds = timelimits.Bounds.of(task, options)
    if task.is_async:
        coroutine = timelimits.bounded_coroutine(bounds, task.fn(*args, **kwargs))
        return timelimits.bounded(bounds, lambda: run(coroutine), on_loop=True)
    value = timelimits.bounded(bounds, lambda: task.fn(*args, **kwargs))
    if inspect.isawaitable(value):
        if inspect.iscoroutine(value):
            value.close()  # never awaited on purpose: no "coroutine was never awaited" warning
        raise TaskDefinitionError(
            f"task {task.name} returned {type(value).__name__}, an awaitable, but its function is not "
            "`async def`, so nothing awaited it and its work did not run: declare the function `async def` "
            "(a decorator that wraps an async function must itself be `async def`)"
        )
    return value


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on the process's event loop; its result, or what it raised."""
    context = contextvars.copy_context()
    running = _running_loop()
    shared = _shared
    if shared is not None and running is not shared:
        return _run_on_shared_loop(shared, coroutine, context)
    if running is None:
        return _run_on_process_loop(coroutine, context)
    if _runner is not None and running is _runner.get_loop():
        coroutine.close()
        raise RuntimeError(
            "an async task ran the worker on the worker's own event loop, which is busy running that task: "
            "await the other task's function directly instead of running it through the worker"
        )
    return _helper_thread().submit(_run_on_process_loop, coroutine, context).result()


@contextmanager
def shared_loop() -> Iterator[None]:
    """Within the block, the process's event loop runs in a thread of its own, and :func:`run` from any thread
    starts its coroutine there and waits for it: coroutines of several threads run on the loop together."""
    global _runner, _shared
    with _lock:  # the loop is busy for the whole block: nothing runs it the sequential way meanwhile
        if _runner is None:
            _runner = asyncio.Runner()
        loop = _runner.get_loop()
        thread = threading.Thread(target=loop.run_forever, name="squall-event-loop", daemon=True)
        thread.start()
        _shared = loop
        try:
            yield
        finally:
            _shared = None
            loop.call_soon_threadsafe(loop.stop)
            thread.join()


def _run_on_shared_loop(
    loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, T], context: contextvars.Context
) -> T:
    done: Future[T] = Future()

    def settle(task: asyncio.Task[T]) -> None:
        if task.cancelled():
            done.cancel()
        elif (error := task.exception()) is not None:
            done.set_exception(error)
        else:
            done.set_result(task.result())

    def start() -> None:
        loop.create_task(coroutine, context=context).add_done_callback(settle)

    loop.call_soon_threadsafe(start)
    return done.result()


def close() -> None:
    """Close the process's event loop, cancelling what is left on it; the next async task opens a new one."""
    global _runner
    with _lock:
        if _runner is not None:
            _runner.close()
            _runner = None


def _run_on_process_loop(coroutine: Coroutine[Any, Any, T], context: contextvars.Context) -> T:
    global _runner
    with _lock:
        if _runner is None:
            _runner = asyncio.Runner()
        return _runner.run(coroutine, context=context)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None  # no loop runs in this thread: the usual case (the Lambda handler is synchronous)


def _helper_thread() -> ThreadPoolExecutor:
    global _helper
    with _lock:
        if _helper is None:
            _helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="squall-async-task")
        return _helper


atexit.register(close)
