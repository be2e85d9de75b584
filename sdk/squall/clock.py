"""Where Squall reads the time: the system clock, or a fake one the local runtime moves by hand."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    """A source of epoch seconds that can also wait."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a fake clock moves itself forward instead)."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> float:
        """Seconds since the epoch, from ``time.time()``."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds``."""
        time.sleep(seconds)


class DeadlineReached(BaseException):
    """A fake-clock sleep ran into the deadline set by :meth:`FakeClock.deadline`; the work was stopped there.

    A ``BaseException``, as the end of a killed process is: no ``except Exception`` may swallow it.
    """


@dataclass(eq=False, slots=True)
class Alarm:
    """A time at which a fake-clock sleep stops and raises what ``error`` makes; ``once``: only the first time."""

    when: float
    error: Callable[[float], BaseException]
    once: bool = False


class Alarms:
    """The alarms set on one fake timeline (the clock's, or one simulated invocation's)."""

    def __init__(self) -> None:
        self._set: list[Alarm] = []

    def first_by(self, when: float) -> Alarm | None:
        """The earliest alarm at or before ``when``, if any."""
        due = [alarm for alarm in self._set if alarm.when <= when]
        return min(due, key=lambda alarm: alarm.when) if due else None

    def ring(self, alarm: Alarm, seconds: float) -> BaseException:
        """What ``alarm`` raises in a sleep of ``seconds``; a one-shot alarm is spent."""
        if alarm.once and alarm in self._set:
            self._set.remove(alarm)
        return alarm.error(seconds)

    @contextmanager
    def armed(self, alarm: Alarm) -> Iterator[None]:
        """Within the block, ``alarm`` is set."""
        self._set.append(alarm)
        try:
            yield
        finally:
            if alarm in self._set:
                self._set.remove(alarm)


class FakeClock:
    """A clock that moves only when told to; ``sleep`` advances it instead of blocking."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._alarms = Alarms()

    def now(self) -> float:
        """The fake time, in epoch seconds."""
        return self._now

    def alarms(self) -> Alarms:
        """The alarms of the calling thread's timeline (here, the clock's one)."""
        return self._alarms

    def sleep(self, seconds: float) -> None:
        """Advance the fake time by ``seconds`` at once (to the first alarm on the way, and raise, if sooner)."""
        alarms = self.alarms()
        alarm = alarms.first_by(self._now + seconds)
        if alarm is not None:
            self.set(alarm.when)
            raise alarms.ring(alarm, seconds)
        self.advance(seconds)

    @contextmanager
    def deadline(self, when: float) -> Iterator[None]:
        """Within the block, a sleep that would reach ``when`` stops there and raises :class:`DeadlineReached`."""

        def reached(seconds: float) -> BaseException:
            return DeadlineReached(f"stopped at the deadline, {when:.3f}, in a sleep of {seconds} s")

        with self.alarm(when, reached):
            yield

    @contextmanager
    def alarm(self, when: float, error: Callable[[float], BaseException], *, once: bool = False) -> Iterator[None]:
        """Within the block, a sleep that would reach ``when`` stops there and raises ``error(sleep seconds)``
        (the first such sleep only, with ``once``): how the local runtime emulates timeouts and time limits."""
        with self.alarms().armed(Alarm(when, error, once)):
            yield

    def advance(self, seconds: float) -> None:
        """Move the fake time forward; it never goes back."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds})")
        self._now += seconds

    def set(self, when: float) -> None:
        """Jump to ``when`` if that is later than now."""
        self._now = max(self._now, when)


_current: Clock = SystemClock()


def now() -> float:
    """Seconds since the epoch on the clock in use."""
    return _current.now()


def sleep(seconds: float) -> None:
    """Wait on the clock in use."""
    _current.sleep(seconds)


def current() -> Clock:
    """The clock in use."""
    return _current


@contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the clock in use for the duration of the block."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous
