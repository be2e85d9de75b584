"""Tasks seen changing state in this process: what the dev server's dashboard lists in every state.

The listing index keeps only RETRY, DEAD and REVOKED (SUCCESS with ``index_success=True``), so a deployed app's
PENDING and STARTED tasks are found only by id (docs/dashboard.md prices an index that would hold them). A
process that sees the worker's transitions (``squall dev``, the local runtime) records them here, newest last,
bounded, and the dashboard merges them into its listing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from squall.states import State

#: Tasks remembered at most; the oldest are forgotten first.
RECENT_TASKS = 5_000
#: State changes remembered per task (a task retried many times keeps its latest).
HISTORY_PER_TASK = 50


@dataclass(frozen=True, slots=True)
class Seen:
    """One state change of a task, as this process saw it."""

    task_id: str
    state: State
    at: float


class RecentTasks:
    """A thread-safe, bounded record of the state changes seen, by task."""

    def __init__(self, capacity: int = RECENT_TASKS) -> None:
        self.capacity = capacity
        self._tasks: OrderedDict[str, list[Seen]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, task_id: str, state: State, at: float) -> None:
        """Record that ``task_id`` entered ``state`` at ``at`` (a store transition listener's signature)."""
        with self._lock:
            history = self._tasks.pop(task_id, [])
            history.append(Seen(task_id, state, at))
            self._tasks[task_id] = history[-HISTORY_PER_TASK:]
            while len(self._tasks) > self.capacity:
                self._tasks.popitem(last=False)

    def latest(self) -> list[Seen]:
        """Each task's latest change, newest first."""
        with self._lock:
            return sorted((history[-1] for history in self._tasks.values()), key=lambda s: s.at, reverse=True)

    def history(self, task_id: str) -> list[Seen]:
        """The changes seen of one task, oldest first (empty if none was seen)."""
        with self._lock:
            return list(self._tasks.get(task_id, ()))
