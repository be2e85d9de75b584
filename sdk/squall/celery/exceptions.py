"""Celery's exceptions (``celery.exceptions``), the ones task code raises and catches.

:class:`Retry` is Squall's :class:`squall.Retry`, so the worker treats it as a retry; :class:`Reject` and
:class:`Ignore` are read by the face's task wrapper (:mod:`squall.celery.task`). The time-limit exceptions are
Squall's own (:class:`squall.SoftTimeLimitExceeded`, :class:`squall.TimeLimitExceeded`), raised by the worker when a
task's ``soft_time_limit``/``time_limit`` passes (docs/time-limits.md).
"""

from __future__ import annotations

from typing import Any

from squall import errors
from squall.errors import SquallError
from squall.tasks.task import Retry as _SquallRetry


class CeleryError(SquallError):
    """Base of the face's errors (Celery's ``CeleryError``)."""


class TaskPredicate(CeleryError):
    """Raised by a task to tell the worker what to do with it."""


class Retry(_SquallRetry):  # a TaskPredicate in Celery; here the worker must see Squall's Retry
    """The task is to be retried: raised by ``self.retry()`` (``when`` is the countdown in seconds, or an eta)."""

    def __init__(
        self,
        message: str | None = None,
        exc: BaseException | None = None,
        when: Any = None,
        is_eager: bool = False,
        sig: Any = None,
        *,
        max_retries: int | None = None,
    ) -> None:
        countdown = float(when) if isinstance(when, int | float) and not isinstance(when, bool) else None
        super().__init__(countdown=countdown, exc=exc, max_retries=max_retries)
        self.message = message
        self.when = when
        self.is_eager = is_eager
        self.sig = sig
        #: An aware datetime to retry at, when ``when`` was one.
        self.eta = None if countdown is not None else when

    def __str__(self) -> str:
        if self.message:
            return self.message
        return f"Retry in {self.when}s: {self.exc!r}" if self.exc is not None else f"Retry in {self.when}s"


class Ignore(TaskPredicate):
    """The task asks that its state be left as it is (its last ``update_state``, or PENDING)."""


class Reject(TaskPredicate):
    """The task rejects its message: dead-lettered with the reason, or with ``requeue=True`` tried again."""

    def __init__(self, reason: Any = None, requeue: bool = False) -> None:
        super().__init__(reason, requeue)
        self.reason = reason
        self.requeue = requeue

    def __str__(self) -> str:
        return f"Reject(reason={self.reason!r}, requeue={self.requeue})"


class ImproperlyConfigured(CeleryError):
    """A setting or option cannot be used as given."""


class TaskError(CeleryError):
    """Base of task-related errors."""


class QueueNotFound(KeyError, TaskError):
    """A task was sent to a queue the app does not declare (queues are infrastructure here)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "queue not found"


class NotRegistered(KeyError, TaskError):
    """No task of that name is registered with the app."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "task not registered"


class AlreadyRegistered(TaskError):
    """Two tasks have one name."""


class TimeoutError(TaskError):  # Celery's name, imported as celery.exceptions.TimeoutError
    """``get(timeout=...)`` ran out of time."""


class MaxRetriesExceededError(TaskError):
    """``self.retry()`` was called with no retry left."""

    def __init__(self, *args: Any, task_args: Any = None, task_kwargs: Any = None) -> None:
        super().__init__(*args)
        self.task_args = task_args
        self.task_kwargs = task_kwargs


class TaskRevokedError(TaskError):
    """The task was revoked: what ``get()`` raises for it, and its ``result``."""


class InvalidTaskError(TaskError):
    """The task's message cannot be used."""


class ChordError(TaskError):
    """A member of a chord failed, so its body did not run."""


SoftTimeLimitExceeded = errors.SoftTimeLimitExceeded
TimeLimitExceeded = errors.TimeLimitExceeded


class WorkerLostError(Exception):
    """The process running the task died."""


__all__ = [
    "AlreadyRegistered",
    "CeleryError",
    "ChordError",
    "Ignore",
    "ImproperlyConfigured",
    "InvalidTaskError",
    "MaxRetriesExceededError",
    "NotRegistered",
    "QueueNotFound",
    "Reject",
    "Retry",
    "SoftTimeLimitExceeded",
    "TaskError",
    "TaskPredicate",
    "TaskRevokedError",
    "TimeLimitExceeded",
    "TimeoutError",
    "WorkerLostError",
]
