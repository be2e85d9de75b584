"""How a Celery task's run goes: Celery's hooks, signals and ``autoretry_for`` around its body.

Squall's worker calls the body :func:`squall_body` registered (:func:`execute`: this run's request, then
:func:`traced`); ``Task.apply`` calls :func:`traced` in process. What the run raises or returns is what Squall's
worker reads: the body's value (SUCCESS); ``Retry`` raised again, to be retried (``self.retry()``, or an exception
in ``autoretry_for``, waiting Celery's :func:`exponential_backoff` with ``retry_backoff``); :class:`Rejected` for
``Reject``, dead-lettered with the reason (``requeue=True``: a ``Retry`` at once); any other exception as it is
(FAILURE); and for ``Ignore``, a value holding :data:`~squall.celery.result.IGNORED_KEY`, so the state stays
as it was. The rules of ``retry()`` itself are :mod:`squall.celery.task`'s.
"""

from __future__ import annotations

import inspect
import random
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from squall.celery import _context, signals, states
from squall.celery._context import Context
from squall.celery.exceptions import Ignore, Reject, Retry
from squall.celery.result import IGNORED_KEY

if TYPE_CHECKING:
    from squall.celery.task import Task
    from squall.tasks.task import TaskContext

#: The key of a progress report's meta that holds a custom state (``{"celery": {"state": ..., "meta": ...}}``).
STATE_KEY = "celery"


class Rejected(Exception):
    """A task raised ``Reject``: its message is dead-lettered with this reason."""


def squall_body(task: Task, fn: Callable[..., Any], bind: bool) -> Callable[..., Any]:
    """The function registered with Squall for ``task``: the declared signature, after Squall's context."""
    parameters = list(inspect.signature(fn).parameters.values())
    if bind:
        parameters = parameters[1:]

    def body(squall_context: TaskContext, /, *args: Any, **kwargs: Any) -> Any:
        return execute(task, squall_context, *args, **kwargs)

    first = inspect.Parameter("squall_context", inspect.Parameter.POSITIONAL_ONLY)
    body.__signature__ = inspect.Signature([first, *parameters])  # type: ignore[attr-defined]
    body.__doc__, body.__module__, body.__qualname__ = fn.__doc__, fn.__module__, fn.__qualname__
    return body


def execute(task: Task, squall_context: TaskContext, *args: Any, **kwargs: Any) -> Any:
    """The body Squall's worker runs: this run's request, then :func:`traced`."""
    given = squall_context.request
    request = Context(
        id=given.id,
        task=task.name,
        args=args,
        kwargs=kwargs,
        retries=given.retries,
        called_directly=False,
        delivery_info={"routing_key": given.queue, "exchange": "", "priority": None},
        timelimit=(task.time_limit, task.soft_time_limit),
        report=lambda state, meta: squall_context.progress_now(
            _percent(meta), None, **{STATE_KEY: {"state": state, "meta": meta}}
        ),
    )
    signals.process_started()
    return traced(task, request, args, kwargs)


def traced(task: Task, request: Context, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run the body with autoretry, the hooks and the signals; return its value or raise what Squall reads."""
    task_id = request.id or ""
    with _context.executing(task, request):
        signals.task_prerun.send(sender=task, task_id=task_id, task=task, args=args, kwargs=kwargs)
        state, value = states.FAILURE, None
        try:
            task.before_start(task_id, args, kwargs)
            value = autoretried(task, args, kwargs)
            if request.pending_retry is not None:
                raise request.pending_retry
        except Ignore:
            state = states.IGNORED
            value = {IGNORED_KEY: True}
        except Retry as exc:
            state, einfo = states.RETRY, sys.exc_info()
            task.on_retry(exc.exc, task_id, args, kwargs, einfo)
            signals.task_retry.send(sender=task, request=request, reason=exc, einfo=einfo)
            raise
        except Reject as exc:
            if exc.requeue:
                state = states.RETRY
                raise Retry(f"rejected and requeued: {exc.reason}", when=0) from exc
            raise Rejected(f"rejected: {exc.reason}") from exc
        except Exception as exc:
            einfo = sys.exc_info()
            task.on_failure(exc, task_id, args, kwargs, einfo)
            signals.task_failure.send(
                sender=task,
                task_id=task_id,
                exception=exc,
                args=args,
                kwargs=kwargs,
                traceback=einfo[2],
                einfo=einfo,
            )
            task.after_return(states.FAILURE, exc, task_id, args, kwargs, einfo)
            raise
        else:
            state = states.SUCCESS
            task.on_success(value, task_id, args, kwargs)
            signals.task_success.send(sender=task, result=value)
            task.after_return(states.SUCCESS, value, task_id, args, kwargs, None)
        finally:
            signals.task_postrun.send(
                sender=task, task_id=task_id, task=task, args=args, kwargs=kwargs, retval=value, state=state
            )
        return value


def autoretried(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The body, with Celery's ``autoretry_for`` (its ``retry_backoff``, ``retry_kwargs``, ``retry_jitter``)."""
    try:
        return task.run(*args, **kwargs)
    except (Ignore, Retry):
        raise
    except task.dont_autoretry_for:
        raise
    except task.autoretry_for as exc:
        retry_kwargs = dict(task.retry_kwargs)
        if task.retry_backoff:
            retry_kwargs["countdown"] = exponential_backoff(
                factor=int(max(1.0, float(task.retry_backoff))),
                retries=task.request.retries,
                maximum=int(task.retry_backoff_max),
                full_jitter=task.retry_jitter,
            )
        raise task.retry(exc=exc, **retry_kwargs) from exc


def exponential_backoff(*, factor: int, retries: int, maximum: int, full_jitter: bool) -> int:
    """Celery's backoff: ``min(maximum, factor * 2**retries)``, drawn uniformly from 0 to that with full jitter."""
    countdown = int(min(maximum, factor * (2**retries)))
    if full_jitter:
        countdown = random.SystemRandom().randrange(countdown + 1)
    return int(max(0, countdown))


def _percent(meta: Any) -> float:
    """A progress percentage from Celery's usual ``{"current": n, "total": m}`` meta, else 0."""
    if isinstance(meta, dict):
        current, total = meta.get("current"), meta.get("total")
        if isinstance(current, int | float) and isinstance(total, int | float) and total > 0:
            return float(max(0.0, min(100.0, 100.0 * current / total)))
    return 0.0
