"""Event sources that poll at the same time on the fake clock, each with up to its MaximumConcurrency invocations
in flight, as Lambda runs them: what ``Runtime.run_concurrently`` drives, so that waits can be measured.

``Runtime.drain`` runs one invocation at a time and lets each sleep move the one clock, so two invocations never
overlap in time. Here each invocation (and each producer call given with ``at=``) runs in a thread of its own,
one thread at a time: a thread runs until it sleeps on the fake clock (:class:`SimulatedClock`), and the
one due soonest runs next, the clock set to its time. This is a discrete-event simulation: deterministic, and
a task that sleeps ``d`` fake seconds holds its invocation for ``d`` seconds while the others go on.

What each event source does, after the AWS Lambda Developer Guide ("Configuring scaling behavior for SQS event
source mappings"): while messages are visible it keeps invocations in flight, at most its MaximumConcurrency,
starting with ``ESM_INITIAL_CONCURRENCY`` and adding ``ESM_SCALE_UP_PER_MINUTE`` a minute; a free invocation
receives its batch at once (SQS returns a message to a waiting long poll as it arrives: no poll latency is
modelled); a batching window holds a batch that is not full for up to that many seconds. Each invocation in
flight has an execution environment of its own (its own handler, so its own Powertools BatchProcessor and
executor), reused by the next invocation, as Lambda reuses environments.

Not modelled: the Region's or the function's concurrency running out (each event source always gets its
share: see docs/flow-control.md, "Priorities"), the latency of a poll, and async tasks that block on the fake
clock inside their coroutine (the process's one event loop runs one coroutine at a time).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from squall import limits
from squall.clock import Alarms, FakeClock
from squall.errors import DrainError

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from squall.local.esm import EventSourceMapping, Handler
    from squall.local.scheduler import LocalScheduler


class _Cancelled(BaseException):
    """Unwinds a thread the run leaves behind (it stopped with an error): nothing may catch it."""


class SimulatedClock(FakeClock):
    """A fake clock on which the threads of a concurrent run sleep in turn; elsewhere, exactly a FakeClock."""

    def __init__(self, start: float | None = None) -> None:
        super().__init__(start)
        self._local = threading.local()

    def _actor(self) -> _Actor | None:
        actor: _Actor | None = getattr(self._local, "actor", None)
        return actor

    def sleep(self, seconds: float) -> None:
        """In a run's thread: wait until the clock reaches now + ``seconds`` (or its deadline, and raise)."""
        actor = self._actor()
        if actor is None:
            super().sleep(seconds)
        else:
            actor.sleep(seconds)

    def alarms(self) -> Alarms:
        """In a run's thread, its own alarms (each invocation has its own function timeout); elsewhere the clock's."""
        actor = self._actor()
        return super().alarms() if actor is None else actor.alarms


class _Actor:
    """One thread of a run: an invocation, or a producer call. It runs only while the run has handed it the turn."""

    def __init__(self, run: ConcurrentRun, target: Callable[[], object], name: str) -> None:
        self.run, self.target = run, target
        self.alarms = Alarms()
        self.error: BaseException | None = None
        self.cancelled = False
        self.turn = threading.Semaphore(0)
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)

    def _main(self) -> None:
        self.turn.acquire()
        self.run.clock._local.actor = self
        try:
            if not self.cancelled:
                self.target()
        except _Cancelled:
            pass  # the run stopped with an error of its own, which it raises
        except BaseException as exc:  # handed to the run, which raises it in the caller's thread
            self.error = exc
        finally:
            self.run.baton.release()

    def sleep(self, seconds: float) -> None:
        if self.cancelled:
            raise _Cancelled
        clock = self.run.clock
        wake = clock.now() + max(0.0, seconds)
        alarm = self.alarms.first_by(wake)
        self.run.wait(self, wake if alarm is None else alarm.when)
        if self.cancelled:
            raise _Cancelled
        if alarm is not None:
            raise self.alarms.ring(alarm, seconds)


@dataclass
class _Source:
    """One event source as the run drives it: invocations in flight, idle environments, scaling, a batch forming."""

    mapping: EventSourceMapping
    running: int = 0
    environments: list[Handler] = field(default_factory=list)
    #: When messages became available after an idle spell (the scaling ramp counts from it).
    active_since: float | None = None
    forming: list[MessageTypeDef] = field(default_factory=list)
    forming_until: float | None = None

    @property
    def cap(self) -> int:
        most = self.mapping.resource.max_concurrency
        return limits.ESM_UNCAPPED_CONCURRENCY if most is None else most

    def allowed(self, now: float) -> int:
        """Invocations the source may have in flight now: its cap, or less while it is still scaling up."""
        if self.active_since is None:
            return min(self.cap, limits.ESM_INITIAL_CONCURRENCY)
        added = int(limits.ESM_SCALE_UP_PER_MINUTE * (now - self.active_since) / 60)
        return min(self.cap, limits.ESM_INITIAL_CONCURRENCY + added)

    def next_step(self, now: float) -> float | None:
        """When the source may next start an invocation by itself: its batch's window ends, or it scales up."""
        times = [self.forming_until] if self.forming_until is not None else []
        if self.active_since is not None and self.running >= self.allowed(now) < self.cap:
            per = 60 / limits.ESM_SCALE_UP_PER_MINUTE
            times.append(self.active_since + per * (int((now - self.active_since) / per) + 1))
        return min(times, default=None)


class ConcurrentRun:
    """Runs event sources and producer calls concurrently on a :class:`SimulatedClock` (see the module)."""

    def __init__(
        self,
        clock: SimulatedClock,
        mappings: Sequence[EventSourceMapping],
        *,
        next_visible: Callable[[EventSourceMapping], float | None],
        scheduler: LocalScheduler | None = None,
    ) -> None:
        self.clock, self.scheduler, self.next_visible = clock, scheduler, next_visible
        self.sources = [_Source(m) for m in mappings]
        self.baton = threading.Semaphore(0)
        self._due: list[tuple[float, int, _Actor]] = []
        self._order = itertools.count()
        self._waiting: set[_Actor] = set()
        self.handled = 0
        self.invocations = 0

    # --- the threads' side ------------------------------------------------------------------------------------

    def wait(self, actor: _Actor, when: float) -> None:
        """Called in ``actor``'s thread: hand the turn back until the clock reaches ``when``."""
        self._schedule(actor, when)
        self.baton.release()
        actor.turn.acquire()

    # --- the run ----------------------------------------------------------------------------------------------

    def start(self, target: Callable[[], object], when: float, name: str) -> None:
        """Run ``target`` in a thread of the run from ``when`` (epoch seconds) on."""
        actor = _Actor(self, target, name)
        actor.thread.start()
        self._schedule(actor, when)

    def run(self, *, until: float | None, limit: float, max_invocations: int) -> int:
        """Run until nothing is pending (or the clock reaches ``until``); return the records handled meanwhile.

        Stopped at ``until``, the invocations still in flight stay where they are, to go on in the next run. An
        error (a producer call's, DrainError) ends every thread of the run first.
        """
        before, most = self.handled, self.invocations + max_invocations
        try:
            while True:
                self._settle(most)
                wake = self._next_event(recurring=until is not None)
                if until is not None and (wake is None or wake > until):
                    self._move_to(until)
                    self._settle(most)
                    return self.handled - before
                if wake is None:
                    return self.handled - before
                if wake > limit:
                    raise DrainError("work is still pending past the run's horizon; is a task retrying forever?")
                self._move_to(wake)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """End the threads still waiting: each unwinds without running further (the runtime ends, or failed)."""
        self._cancel()

    def _settle(self, most: int) -> None:
        """Run every thread due now and start every invocation the sources can, until nothing changes."""
        busy = True
        while busy:
            busy = False
            while self._due and self._due[0][0] <= self.clock.now():
                _, _, actor = heapq.heappop(self._due)
                self._waiting.discard(actor)
                self._resume(actor)
                busy = True
            for source in self.sources:
                busy = self._start_invocations(source) or busy
            if self.invocations > most:
                raise DrainError(f"the run stopped after {most} invocations; is a task looping?")

    def _start_invocations(self, source: _Source) -> bool:
        now, mapping = self.clock.now(), source.mapping
        started = False
        size = mapping.resource.batch_size
        window = getattr(mapping.resource, "batching_window", 0)
        while source.running < source.allowed(now):
            batch = source.forming + mapping._receive(size - len(source.forming))
            source.forming = []
            if not batch:
                source.forming_until = None
                if source.running == 0:
                    source.active_since = None  # idle again: the next burst starts from the first figure
                break
            if source.active_since is None:
                source.active_since = now
            if window and len(batch) < size:
                source.forming_until = source.forming_until or now + window
                if now < source.forming_until:
                    source.forming = batch  # received and in flight, waiting for more or for the window
                    break
            source.forming_until = None
            self._invoke(source, batch)
            started = True
            if len(batch) < size:
                break  # the queue had no more to give
        return started

    def _invoke(self, source: _Source, batch: list[MessageTypeDef]) -> None:
        mapping = source.mapping
        handler = source.environments.pop() if source.environments else None
        if handler is None:
            handler = mapping.new_handler() if mapping.new_handler is not None else mapping.handler
        source.running += 1
        self.invocations += 1
        self.handled += len(batch)

        def invocation() -> None:
            try:
                mapping._invoke(batch, handler)
            finally:
                source.running -= 1
                source.environments.append(handler)

        self.start(invocation, self.clock.now(), f"invocation-{mapping.resource.name}-{self.invocations}")

    def _resume(self, actor: _Actor) -> None:
        actor.turn.release()
        self.baton.acquire()
        if actor.error is not None:
            error, actor.error = actor.error, None
            raise error

    def _schedule(self, actor: _Actor, when: float) -> None:
        heapq.heappush(self._due, (when, next(self._order), actor))
        self._waiting.add(actor)

    def _next_event(self, *, recurring: bool) -> float | None:
        """The next time something happens; with ``recurring``, recurring schedules' firings count too (a run
        to a given time fires them on the way, as ``drain(until=...)`` does; without one they never end)."""
        now = self.clock.now()
        times: list[float | None] = [self._due[0][0]] if self._due else []
        for source in self.sources:
            times.append(source.next_step(now))
            visible = self.next_visible(source.mapping)
            # moto compares visibility with a strict '>': a millisecond past the instant makes it visible.
            times.append(None if visible is None else max(visible + 0.001, now))
        if self.scheduler is not None:
            times.append(self.scheduler.next_fire(recurring=False))
            if recurring:
                times.append(self.scheduler.next_fire(recurring=True))
        # Everything due now has run (_settle): only what lies ahead can change anything.
        pending = [t for t in times if t is not None and t > now]
        return min(pending, default=None)

    def _move_to(self, when: float) -> None:
        if self.scheduler is not None:
            self.scheduler.fire_until(when)
        self.clock.set(when)

    def _cancel(self) -> None:
        """Unwind the threads still waiting (the run raised): each ends without running further."""
        self._due.clear()
        while self._waiting:  # a thread that catches the unwinding and sleeps again is waiting again
            actor = self._waiting.pop()
            actor.cancelled = True
            actor.turn.release()
            self.baton.acquire()
        self._due.clear()
