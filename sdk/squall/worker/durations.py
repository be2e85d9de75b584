"""How long a task's run should be allowed: its declared duration, else the longest run seen in this process.

The executor starts a run only when that much time (and a margin for the writes after it) is left in the
invocation; otherwise it keeps the message for another invocation, without spending an attempt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from squall import clock, limits

if TYPE_CHECKING:
    from squall.tasks.task import Task


class Durations:
    """The expected duration of each task's run, learnt from the runs of this worker process."""

    def __init__(self) -> None:
        #: The longest run seen per task name in this process, in seconds: the expected duration of a task
        #: that declares none.
        self.longest: dict[str, float] = {}

    def expected(self, task: Task[..., Any], budget: float | None) -> float:
        """How long a run of ``task`` should be allowed: its declared duration, else the longest seen so far.

        A duration seen but longer than a whole invocation (``budget``) is ignored: deferring would never end.
        """
        if task.options.expected_duration is not None:
            return task.options.expected_duration
        seen = self.longest.get(task.name, 0.0)
        if budget is not None and seen + limits.DEADLINE_MARGIN_SECONDS > budget:
            return 0.0
        return seen

    def observe(self, task: Task[..., Any], started: float) -> None:
        """Note a run of ``task`` that started at ``started`` and ended now."""
        took = clock.now() - started
        if took > self.longest.get(task.name, 0.0):
            self.longest[task.name] = took
