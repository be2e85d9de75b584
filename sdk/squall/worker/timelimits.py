"""Time limits of one run: ``soft_time_limit`` raises :class:`~squall.errors.SoftTimeLimitExceeded` inside the task
once, and ``time_limit`` stops it, its attempt failing with :class:`~squall.errors.TimeLimitExceeded`.

How the limit reaches the task depends on where it runs:

- **On Squall's fake clock** (the local runtime) time moves only in sleeps, so each limit is an alarm of the clock
  (:meth:`squall.clock.FakeClock.alarm`): the sleep that would pass it stops there and raises, inside the task.
- **A plain function on the real clock**, in the main thread (where Lambda runs the handler): a ``SIGALRM``
  timer, whose handler raises in the task's frame. A signal also ends a blocking call (``time.sleep``, a socket
  read), as Celery's soft limit does; a C extension's loop that never returns to Python is stopped only by the
  function's own timeout. Code that uses ``SIGALRM`` itself (``signal.alarm``) should not be given limits.
- **An ``async def`` task on the real clock**: timers of its event loop, which throw the exception into the
  coroutine where it awaits (so the loop itself is never interrupted).
- In another thread, on the real clock, no signal can reach the task: the limits are not enforced there (logged
  once); the function's timeout remains the bound.

The hard limit reaches the task as :class:`HardLimitReached`, a ``BaseException`` so that the task's own
``except Exception`` cannot swallow it (its ``finally`` blocks run); :func:`bounded` turns it into
``TimeLimitExceeded``, an ordinary failure, for the executor and the extensions.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
import types
from collections.abc import Callable, Coroutine, Generator, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from squall import clock
from squall.errors import SoftTimeLimitExceeded, TimeLimitExceeded

if TYPE_CHECKING:
    from squall.tasks.task import Task

T = TypeVar("T")

logger = logging.getLogger(__name__)
_warned = threading.Event()


class HardLimitReached(BaseException):
    """The run reached its hard ``time_limit``; raised inside the task, never caught by ``except Exception``."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """One run's limits as epoch seconds on Squall's clock (None: no such limit)."""

    task: str
    started: float
    soft: float | None
    hard: float | None

    @classmethod
    def of(cls, task: Task[..., Any], call: Mapping[str, Any] | None = None) -> Bounds | None:
        """The limits of a run of ``task`` starting now, or None when it has none: the call's own (the envelope
        options ``time_limit`` / ``soft_time_limit``), else the task's. A soft limit at or past the hard one is
        never raised: the hard one strikes first (a call's ``time_limit`` under the task's soft limit)."""
        soft, hard = task.options.soft_time_limit, task.options.time_limit
        if call:
            soft, hard = call.get("soft_time_limit", soft), call.get("time_limit", hard)
        if soft is not None and hard is not None and soft >= hard:
            soft = None
        if soft is None and hard is None:
            return None
        return cls(task.name, clock.now(), soft, hard)

    def plan(self) -> list[tuple[float, Callable[[], BaseException]]]:
        """When each limit falls and what it raises, earliest first."""
        plan: list[tuple[float, Callable[[], BaseException]]] = []
        if self.soft is not None:
            soft = self.soft
            plan.append((self.started + soft, lambda: SoftTimeLimitExceeded(self._message("soft_time_limit", soft))))
        if self.hard is not None:
            hard = self.hard
            plan.append((self.started + hard, lambda: HardLimitReached(self._message("time_limit", hard))))
        return sorted(plan, key=lambda entry: entry[0])

    def _message(self, label: str, seconds: float) -> str:
        stopped = "was stopped" if label == "time_limit" else "was interrupted"
        return f"task {self.task!r} ran past its {label} of {seconds:g} s and {stopped}"


def bounded(bounds: Bounds | None, run: Callable[[], T], *, on_loop: bool = False) -> T:
    """Call ``run`` within ``bounds``; a hard limit surfaces as ``TimeLimitExceeded``. ``on_loop``: ``run`` runs
    a coroutine made by :func:`bounded_coroutine`, which keeps the real clock's limits itself (no signal)."""
    if bounds is None:
        return run()
    try:
        with _alarms(bounds, signals=not on_loop) as finished:
            value = run()
            finished()
            return value
    except HardLimitReached as exc:
        raise TimeLimitExceeded(str(exc)) from None


def bounded_coroutine(bounds: Bounds | None, coroutine: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
    """``coroutine`` within ``bounds``, to be run on the event loop (on the real clock: the loop's timers)."""
    if bounds is None or isinstance(clock.current(), clock.FakeClock):
        return coroutine  # the fake clock's alarms are set around the run by ``bounded``
    return _on_loop(bounds, coroutine)


@contextmanager
def _alarms(bounds: Bounds, *, signals: bool) -> Iterator[Callable[[], None]]:
    """The limits armed for the block; it calls what this yields as soon as the run is over."""
    current = clock.current()
    done = threading.Event()
    with ExitStack() as stack:
        if isinstance(current, clock.FakeClock):
            for when, make in bounds.plan():
                stack.enter_context(current.alarm(when, _ignoring_seconds(make), once=True))
        elif not signals:
            pass  # an async task on the real clock: the loop's timers (bounded_coroutine)
        elif threading.current_thread() is threading.main_thread():
            stack.enter_context(_signal_alarms(bounds, done))
        elif not _warned.is_set():
            _warned.set()
            logger.warning(
                "time limits of %s are not enforced: the run is not in the main thread; the function's timeout "
                "still bounds it",
                bounds.task,
            )
        yield done.set


def _ignoring_seconds(make: Callable[[], BaseException]) -> Callable[[float], BaseException]:
    return lambda _seconds: make()


@contextmanager
def _signal_alarms(bounds: Bounds, done: threading.Event) -> Iterator[None]:
    """``SIGALRM`` at each limit, raising in the running frame, until the block ends or the run is ``done``."""
    pending = [(when - bounds.started, make) for when, make in bounds.plan()]
    began = time.monotonic()

    def arm() -> None:
        if pending:
            signal.setitimer(signal.ITIMER_REAL, max(pending[0][0] - (time.monotonic() - began), 0.001))

    def ring(signum: int, frame: types.FrameType | None) -> None:
        if done.is_set() or not pending:
            return  # the run returned a moment ago: its value stands
        _, make = pending.pop(0)
        arm()
        raise make()

    previous = signal.signal(signal.SIGALRM, ring)
    arm()
    try:
        yield
    finally:
        done.set()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


async def _on_loop(bounds: Bounds, coroutine: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is None:  # not run by the loop's task machinery (never the case for calling.run): nothing to wake
        return await coroutine
    due: list[BaseException] = []

    def interrupt(make: Callable[[], BaseException]) -> None:
        due.append(make())
        task.cancel()

    offset = clock.now() - loop.time()
    handles = [loop.call_at(when - offset, interrupt, make) for when, make in bounds.plan()]
    try:
        return await _driven(coroutine, due)
    except HardLimitReached as exc:
        raise TimeLimitExceeded(str(exc)) from None
    finally:
        for handle in handles:
            handle.cancel()


@types.coroutine
def _driven(coroutine: Coroutine[Any, Any, T], due: list[BaseException]) -> Generator[Any, Any, T]:
    """Run ``coroutine`` step by step, throwing a due limit into it (at its ``await``) instead of the
    cancellation that woke the loop's task for it."""
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        try:
            yielded = coroutine.send(sent) if thrown is None else coroutine.throw(thrown)
        except StopIteration as stop:
            value: T = stop.value
            return value
        sent, thrown = None, None
        try:
            sent = yield yielded
        except asyncio.CancelledError as exc:
            if due:
                thrown = due.pop(0)
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()  # the cancellation was ours, a way to wake the task, not a cancel
            else:
                thrown = exc
        except BaseException as exc:  # handed to the coroutine, as awaiting it directly would
            thrown = exc
