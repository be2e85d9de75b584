"""Celery beat on EventBridge Scheduler: ``beat_schedule`` and ``add_periodic_task`` as Squall periodic schedules;
and workflows run in process in eager mode.

Each beat entry becomes a periodic schedule of its task (``@app.periodic``), deployed with the stack: its
``schedule`` (a ``crontab``, a ``schedule``, seconds or a ``timedelta``) as an EventBridge expression
(:func:`squall.celery.schedules.expression_for`: exact, or refused naming the entry), in the app's ``timezone``,
its name made a valid schedule name (:func:`squall.celery.schedules.schedule_name`). The entries are read once,
when the schedules are first needed (the deploy, the worker, ``squall schedules``), after the task modules are
imported: an entry naming a task no module declares is refused then, naming both.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from squall.celery import declaring, routes, schedules, states
from squall.celery.exceptions import ChordError, ImproperlyConfigured
from squall.celery.result import EagerResult
from squall.errors import TaskDefinitionError
from squall.scheduler import periodic
from squall.tasks.signature import Chain, Chord, Group, Signature

if TYPE_CHECKING:
    from squall.celery.app import Celery
    from squall.tasks.signature import Node


class Beat:
    """The app's beat entries, declared as periodic schedules on first need."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.declaring = False
        self._declared: set[str] = set()

    def add(self, schedule: Any, sig: Signature[Any], *, name: str | None, options: dict[str, Any]) -> str:
        """An ``add_periodic_task`` entry, added to ``beat_schedule`` as Celery adds it; returns its name."""
        key = name or f"{sig.name}{sig.args!r}{sig.kwargs!r}"
        if self.app.conf.beat_schedule is None:
            self.app.conf.beat_schedule = {}
        self.app.conf.beat_schedule[key] = {"task": sig.name, "schedule": schedule, "args": sig.args,
                                            "kwargs": sig.kwargs, "options": options}  # fmt: skip
        if self._declared:
            self.declare()
        return key

    def entries(self) -> dict[str, dict[str, Any]]:
        """The ``beat_schedule`` entries (``add_periodic_task``'s among them)."""
        return dict(self.app.conf.beat_schedule or {})

    def declare(self) -> None:
        """Declare every entry not declared yet."""
        self.declaring = True
        try:
            for name, entry in self.entries().items():
                if name not in self._declared:
                    self._declare_one(name, entry)
                    self._declared.add(name)
        finally:
            self.declaring = False

    def _declare_one(self, name: str, entry: dict[str, Any]) -> None:
        app = self.app
        if not isinstance(entry, dict) or "task" not in entry or "schedule" not in entry:
            raise ImproperlyConfigured(f"beat_schedule entry {name!r} needs 'task' and 'schedule'")
        task_name = str(entry["task"])
        task = app._tasks_by_name.get(task_name)
        if task is None:
            raise TaskDefinitionError(
                f"beat_schedule entry {name!r} names task {task_name!r}, which no imported module declares: add its "
                "module to Celery(include=[...]) or autodiscover_tasks()"
            )
        options = dict(entry.get("options") or {})
        queue = options.pop("queue", None)
        queue_name = getattr(queue, "name", queue)
        if queue_name is not None and queue_name != task.options.queue:
            raise ImproperlyConfigured(
                f"beat_schedule entry {name!r}: options queue {queue_name!r} differs from task {task_name!r}'s queue "
                f"{task.options.queue!r}; a schedule sends to its task's queue: route the task there instead"
            )
        hard = options.get("time_limit")
        soft = declaring.raised_soft(hard, options.get("soft_time_limit"), f"beat entry {name!r}")
        periodic.declare_periodic(
            app,
            schedules.expression_for(entry["schedule"], name=name),
            timezone=str(app.conf.timezone or "UTC"),
            args=tuple(entry.get("args") or ()),
            kwargs=dict(entry.get("kwargs") or {}),
            name=schedules.schedule_name(name),
            flexible_window_minutes=None,
            start=None,
            end=None,
            enabled=True,
            expires=_seconds_or_none(options.get("expires")),
            time_limit=hard,
            soft_time_limit=soft,
            priority=routes.call_lane(app, task_name, None, options),
        )(task)


def _seconds_or_none(value: Any) -> float | None:
    """A beat entry's ``expires``: seconds (a number or a timedelta) after the firing's scheduled time."""
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


_NOTHING = object()


class EagerGroupResult:
    """A group run in process: its members' results in order."""

    def __init__(self, results: list[Any]) -> None:
        self.results = results
        self.id = None

    def get(self, timeout: float | None = None, propagate: bool = True, **kwargs: Any) -> list[Any]:
        """Every member's value; the first failure raises (unless ``propagate`` is False)."""
        return [r.get(propagate=propagate) for r in self.results]

    join = get

    def successful(self) -> bool:
        """Whether every member succeeded."""
        return all(r.successful() for r in self.results)

    def failed(self) -> bool:
        """Whether a member failed."""
        return any(r.failed() for r in self.results)

    def ready(self) -> bool:
        """Always True: it ran."""
        return True

    def completed_count(self) -> int:
        """How many members succeeded."""
        return sum(1 for r in self.results if r.successful())


def run_eagerly(app: Celery, node: Node, parent: Any = _NOTHING) -> Any:
    """Run a workflow in process (``task_always_eager``): a chain stops at a failed step, a chord's body gets the
    members' values (a failed member fails the body with ``ChordError``, unless ``on_failure="run"``)."""
    if isinstance(node, Signature):
        args = node.args if node.immutable or parent is _NOTHING else (parent, *node.args)
        ran = app.celery_task(node.name).apply(args, node.kwargs, task_id=node.options.get("task_id"))
        for callback in node.callbacks if ran.successful() else node.errbacks:
            run_eagerly(app, callback, ran.result if ran.successful() else ran.id)
        return ran
    if isinstance(node, Chain):
        last: Any = None
        value = parent
        for link in node.links:
            last = run_eagerly(app, link, value)
            if last.failed():
                return last
            value = last.get() if isinstance(last, EagerGroupResult) else last.result
        return last
    if isinstance(node, Group):
        return EagerGroupResult([run_eagerly(app, member, parent) for member in node.members])
    if not isinstance(node, Chord):
        raise TypeError(f"not a workflow node: {node!r}")
    header = run_eagerly(app, node.header, parent)
    if node.body is None:
        return header
    failed = [r for r in header.results if r.failed()]
    if failed and node.on_failure != "run":
        error = ChordError(f"chord member {failed[0].id} failed: {failed[0].result!r}")
        return EagerResult(failed[0].id, None, states.FAILURE, exception=error)
    return run_eagerly(app, node.body, [r.result for r in header.results])
