"""Running a ``track=False`` task: no DynamoDB record at all, at least once from the envelope alone.

Such a task is never claimed and writes nothing: no state, no result, no progress. Its attempt number travels
in the envelope (option ``attempt``), so retries keep their budget and backoff; a task that fails for good is
dead-lettered with its reason, as a tracked one is, but no DEAD record is written. What is given up is the
claim: two deliveries of one message (SQS delivers at least once) may both run it. See docs/flow-control.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from squall import clock, limits
from squall.errors import EncodeError, MessageTooLarge
from squall.sending.producer import encode_body
from squall.state.schema import ErrorInfo
from squall.tasks.task import Request, Task, TaskContext
from squall.worker import decisions
from squall.worker.delivery import Delivery, Outcome

if TYPE_CHECKING:
    from squall.protocols import App
    from squall.wire.envelope import Envelope
    from squall.worker.durations import Durations
    from squall.worker.queueside import QueueSide

#: Runs a task once: (envelope, task, attempt, args, context) -> its value, or what it raised.
Caller = Callable[["Envelope", "Task[..., Any]", int, "tuple[Any, ...]", "TaskContext | None"], Any]


def _no_progress(_: object) -> None:
    """Progress of an untracked task goes nowhere: there is no record to hold it."""


class Untracked:
    """Runs deliveries of untracked tasks for the executor, which has decoded, admitted and timed them."""

    def __init__(
        self, app: App, queue: QueueSide, call: Caller, durations: Durations, seen: MutableMapping[str, Any]
    ) -> None:
        self.app, self.queue, self._call, self.durations, self._seen = app, queue, call, durations, seen

    def run(self, delivery: Delivery, envelope: Envelope, task: Task[..., Any]) -> Outcome:
        """Run it; on failure send the next attempt (or dead-letter it), with no record written."""
        attempt = int(envelope.options.get("attempt", 1))
        if self.queue.fifo(delivery):
            # A FIFO retry keeps its message (squall.worker.fifo), whose envelope cannot change: its receives
            # count the attempts (a delivery kept for lack of time counts too).
            attempt = max(attempt, delivery.receive_count)
        limit = task.options.max_retries if envelope.max_retries is None else envelope.max_retries
        if attempt > limit + 1:  # a budget lowered since: nothing left to spend
            return self._dead(delivery, envelope, f"attempt {attempt} exceeds max_retries={limit}", None)
        context = None
        if task.options.bind:
            at = (envelope.id, task.name, attempt, envelope.queue, envelope.args, envelope.kwargs, envelope.eta)
            context = TaskContext(Request(*at, delivery.receive_count), _no_progress)
        started = clock.now()
        try:
            self._call(envelope, task, attempt, envelope.args, context)
        except Exception as exc:
            self.durations.observe(task, started)
            decision = decisions.after_failure(task, attempt, limit, exc)
            if decision.dead is not None:
                return self._dead(delivery, envelope, decision.dead, decision.error)
            return self._again(delivery, envelope, task, attempt, decision)
        self.durations.observe(task, started)
        return Outcome.UNTRACKED_DONE

    def _again(
        self, delivery: Delivery, envelope: Envelope, task: Task[..., Any], attempt: int, decision: decisions.Decision
    ) -> Outcome:
        delay = min(max(0.0, decision.delay), float(limits.MAX_ETA_AHEAD_SECONDS))
        due = clock.now() + delay
        carried = None if decision.limit == task.options.max_retries else decision.limit
        options = {**envelope.options, "attempt": attempt + 1}
        try:
            body = encode_body(task, dataclasses.replace(envelope, eta=due, max_retries=carried, options=options))
        except (EncodeError, MessageTooLarge) as exc:
            reason = f"{decision.error.type}: {decision.error.message} (its retry cannot be sent: {exc})"
            return self._dead(delivery, envelope, reason, decision.error)
        self._seen.update(error=decision.error)
        if self.queue.fifo(delivery):
            return self.queue.keep(delivery, envelope, delay, Outcome.RETRY_KEPT)
        self.queue.send_new(delivery, envelope, body, delay, f"{envelope.id}#untracked-retry#{attempt}")
        return Outcome.RETRYING

    def _dead(self, delivery: Delivery, envelope: Envelope, reason: str, error: ErrorInfo | None) -> Outcome:
        reason = reason[: limits.MAX_ERROR_MESSAGE_CHARS]
        self._seen.update(reason=reason, error=error or ErrorInfo("AttemptsExhausted", reason))
        self.queue.send_to_dlq(delivery, reason, envelope.id, note=False)
        return Outcome.DEAD
