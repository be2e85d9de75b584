"""Where Squall reads the time: the system clock, or a fake one the local runtime moves by hand."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
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


class FakeClock:
    """A clock that moves only when told to; ``sleep`` advances it instead of blocking."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._deadline: float | None = None

    def now(self) -> float:
        """The fake time, in epoch seconds."""
        return self._now

    def sleep(self, seconds: float) -> None:
        """Advance the fake time by ``seconds`` at once (to the deadline, and raise, if that is sooner)."""
        if self._deadline is not None and self._now + seconds >= self._deadline:
            self.set(self._deadline)
            raise DeadlineReached(f"stopped at the deadline, {self._deadline:.3f}, in a sleep of {seconds} s")
        self.advance(seconds)

    @contextmanager
    def deadline(self, when: float) -> Iterator[None]:
        """Within the block, a sleep that would reach ``when`` stops there and raises :class:`DeadlineReached`."""
        previous = self._deadline
        self._deadline = when if previous is None else min(previous, when)
        try:
            yield
        finally:
            self._deadline = previous

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
