"""Celery's face on Squall: change ``celery`` to ``squall.celery`` in imports, then deploy.

``Celery`` is a :class:`squall.Squall`; its tasks, results, settings, beat schedules and signals behave as Celery's
(docs/coming-from-celery.md lists every API: the same, different and how, or refused and why).
"""

from squall.celery import states
from squall.celery._context import current_app, current_task
from squall.celery.app import Celery, shared_task
from squall.celery.result import AsyncResult, GroupResult
from squall.celery.task import Task
from squall.tasks.signature import Chain, Chord, Group, Signature, chain, chord, group


def signature(varies: object, *args: object, **kwargs: object) -> Signature[object]:
    """Celery's ``signature(...)``: a Signature as it is, or ``signature("task.name", args=..., kwargs=...)``."""
    if isinstance(varies, Signature):
        return varies
    if isinstance(varies, str):
        return current_app.signature(varies, *args, **kwargs)  # type: ignore[no-any-return]
    raise TypeError(f"signature({varies!r}): give a task name or a signature")


__all__ = [
    "AsyncResult",
    "Celery",
    "Chain",
    "Chord",
    "Group",
    "GroupResult",
    "Signature",
    "Task",
    "chain",
    "chord",
    "current_app",
    "current_task",
    "group",
    "shared_task",
    "signature",
    "states",
]
