"""What a failed attempt leads to: another attempt after a delay, or DEAD with a reason.

One rule for every task, tracked or not (:mod:`squall.worker.execution`, :mod:`squall.worker.untracked`): a
``Retry`` the task raised is retried while the attempt is within the budget (its own ``max_retries`` if it gives
one); another exception is retried only if the task's ``autoretry_for`` matches it, within the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from squall import backoff
from squall.state.schema import ErrorInfo
from squall.tasks.task import Retry
from squall.worker.delivery import error_info

if TYPE_CHECKING:
    from squall.tasks.task import Task


@dataclass(frozen=True, slots=True)
class Decision:
    """Retry after ``delay`` seconds (``dead`` None), or DEAD because of ``dead``; ``limit`` is the budget now."""

    error: ErrorInfo
    limit: int
    delay: float = 0.0
    dead: str | None = None


def after_failure(task: Task[..., Any], attempt: int, limit: int, exc: Exception) -> Decision:
    """Decide what attempt ``attempt`` of ``task`` leads to, having raised ``exc`` with budget ``limit``."""
    if isinstance(exc, Retry):
        limit = limit if exc.max_retries is None else exc.max_retries
        error = error_info(exc.exc) if exc.exc else ErrorInfo("Retry", "the task asked to be retried")
        if attempt > limit:
            reason = f"retries exhausted after {attempt} attempts (max_retries={limit}): {error.message}"
            return Decision(error, limit, dead=reason)
        delay = exc.countdown if exc.countdown is not None else backoff_for(task, attempt)
        return Decision(error, limit, delay)
    error = error_info(exc)
    if not task.options.should_retry(exc):
        reason = f"{error.type}: {error.message} (not retried: not in autoretry_for, or in dont_autoretry_for)"
        return Decision(error, limit, dead=reason)
    if attempt > limit:
        reason = f"{error.type}: {error.message} (retries exhausted after {attempt} attempts)"
        return Decision(error, limit, dead=reason)
    return Decision(error, limit, backoff_for(task, attempt))


def backoff_for(task: Task[..., Any], attempt: int) -> float:
    """The task's backoff before the attempt after ``attempt``."""
    options = task.options
    return backoff.retry_delay(
        attempt, base=options.retry_backoff, cap=options.retry_backoff_max, jitter=options.retry_jitter
    )
