"""A worked example of Squall's extension points (docs/extending.md): hold tasks back, time them, count outcomes."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from squall.tasks.extensions import ADMIT, Admission, Call, Extension, OutcomeEvent
from squall.tasks.task import Task
from squall.wire.envelope import Envelope


class Pause(Extension):
    """Holds back deliveries of the paused task names, for ``seconds`` at a time, without spending attempts."""

    name = "pause"

    def __init__(self, *, seconds: float = 60) -> None:
        self.paused: set[str] = set()
        self.seconds = seconds

    def before_claim(self, envelope: Envelope, task: Task[..., Any]) -> Admission:
        if task.name in self.paused:
            return Admission(defer=self.seconds, reason=f"{task.name} is paused")
        return ADMIT


class Stopwatch(Extension):
    """Times each run (wall clock) and counts how deliveries ended, per task name."""

    name = "stopwatch"

    def __init__(self) -> None:
        self.runs: list[tuple[str, float]] = []
        self.outcomes: Counter[tuple[str, str]] = Counter()

    def around_call(self, call: Call, proceed: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return proceed()
        finally:
            self.runs.append((call.task.name, time.perf_counter() - started))

    def after_outcome(self, event: OutcomeEvent) -> None:
        name = event.task.name if event.task is not None else "(unusable message)"
        self.outcomes[(name, event.outcome)] += 1
