"""The business step of the worker, for one SQS message: open, admit, claim, run, record.

Plain Python that knows nothing of Lambda event dicts: the handler adapts an SQS record into a
:class:`Delivery` and turns the :class:`Outcome` into "delete" or "keep". Every path ends in exactly one
outcome; a bad message is dead-lettered with its reason and acknowledged, never dropped and never allowed
to fail its neighbours.

The worker, not SQS's receive count, decides when a task is DEAD: a retry is a new message (so its receive
count and retention start over), and a message the worker keeps is sent again as a fresh copy whenever
keeping it would let the redrive policy, the retention period or the 12-hour in-flight cap decide instead
(its last receive, a wait longer than SQS can hold it). See docs/reliability.md for each invariant.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from squall import clock, limits
from squall.errors import (
    ConfigurationError,
    DecodeError,
    InvalidArguments,
    LeaseLost,
    TaskNotRegistered,
)
from squall.state.schema import ErrorInfo
from squall.states import State
from squall.tasks.extensions import Call, ExtensionChain, OutcomeEvent
from squall.tasks.task import Request, Task, TaskContext
from squall.wire.bodies import CodecChain, chain_for
from squall.wire.envelope import Envelope
from squall.worker import calling, decisions
from squall.worker.delivery import Delivery, Outcome, ProgressBuffer, error_info
from squall.worker.durations import Durations
from squall.worker.limiter import FlowLimiter
from squall.worker.outcomes import Outcomes
from squall.worker.queueside import QueueSide
from squall.worker.untracked import Untracked
from squall.worker.workflows import ChordMemberDead, Workflows

if TYPE_CHECKING:
    from squall.config import Settings
    from squall.protocols import App

__all__ = [
    "ETA_TOLERANCE_SECONDS",
    "Delivery",
    "Executor",
    "Outcome",
    "error_info",
]

#: A message seen more than this many seconds before its ETA is put back until then; within it, the
#: task runs (EventBridge Scheduler itself fires anywhere within the scheduled minute).
ETA_TOLERANCE_SECONDS = 60


class Executor:
    """Runs deliveries of one app's tasks and records their outcome."""

    def __init__(self, app: App, *, durations: Durations | None = None) -> None:
        """``durations``: what runs have taught, shared with the executors of a batch's other threads."""
        self.app = app
        # The limiter first: it decides before any extension's before_claim, and hears every outcome.
        self.limiter = FlowLimiter(app)
        self.extensions = ExtensionChain((self.limiter, *app.extensions))
        self.queue = QueueSide(app)
        #: What the delivery in hand has recorded so far, for its ``after_outcome`` event.
        self._seen: dict[str, Any] = {}
        self.durations = durations or Durations()
        self.flow = Workflows(app)
        self.outcomes = Outcomes(app, self.queue, self.flow, self._seen)
        self.untracked = Untracked(app, self.queue, self.call, self.durations, self._seen)
        self._chain: tuple[tuple[Any, ...], CodecChain] | None = None

    @property
    def settings(self) -> Settings:
        return self.app.settings

    def process(self, delivery: Delivery, remaining_seconds: float, *, budget_seconds: float | None = None) -> Outcome:
        """Handle one delivery; the app's extensions hear how it ended before its message is acknowledged.

        ``remaining_seconds`` is how long this invocation may still run; ``budget_seconds``, how long it could
        run when it started (its timeout), when known.
        """
        self._seen.clear()
        self.limiter.remaining_seconds = remaining_seconds  # a concurrency slot's lease lasts the invocation
        outcome = self._process(delivery, remaining_seconds, budget_seconds)
        seen = self._seen
        self.extensions.after_outcome(
            OutcomeEvent(
                outcome=outcome.value,
                envelope=seen.get("envelope"),
                task=seen.get("task"),
                state=seen.get("state"),
                result=seen.get("result"),
                error=seen.get("error"),
                reason=seen.get("reason"),
            )
        )
        return outcome

    def _bodies(self) -> CodecChain:
        """The app's codec chain, built again only when its extensions or signer change."""
        key = (tuple(self.app.extensions), self.app.signer)
        if self._chain is None or self._chain[0] != key:
            self._chain = (key, chain_for(self.app))
        return self._chain[1]

    def _process(self, delivery: Delivery, remaining_seconds: float, budget_seconds: float | None) -> Outcome:
        bodies = self._bodies()
        try:
            # Signing decodes first: with it on, nothing but the signature header is read before it checks out.
            envelope = Envelope.decode(bodies.decode(delivery.body))
        except DecodeError as exc:  # a bad signature, a body a codec cannot read, or not an envelope
            return self.outcomes.reject(
                delivery, f"malformed message: {exc.reason}", "DecodeError", task_id=exc.task_id
            )
        except ConfigurationError:
            # The keyring cannot be read (SSM or Secrets Manager unreachable, or misconfigured): no message can
            # be checked, and none is to blame. Keep it without spending its budget; the handler logs and counts.
            return self.queue.keep(delivery, None, limits.KEYRING_RETRY_SECONDS, Outcome.KEYS_UNAVAILABLE)
        self._seen["envelope"] = envelope
        try:
            task = self.app.get_task(envelope.task)
            task.check_arguments(self.flow.arguments_shape(envelope), envelope.kwargs)
        except (TaskNotRegistered, InvalidArguments) as exc:
            return self.outcomes.reject(delivery, str(exc), type(exc).__name__, envelope=envelope)
        self._seen["task"] = task
        now = clock.now()
        if bodies.signs:
            age = now - max(envelope.created, envelope.eta or 0.0)
            if age > limits.SIGNED_ENVELOPE_MAX_AGE_SECONDS:
                return self.outcomes.refuse_expired(delivery, envelope, age)
        if envelope.eta is not None and envelope.eta - now > ETA_TOLERANCE_SECONDS:
            wait = envelope.eta - now
            if wait > limits.MAX_ETA_AHEAD_SECONDS:
                reason = (
                    f"eta {envelope.eta!r} is {wait / 86400:,.0f} days ahead, more than the "
                    f"{limits.MAX_ETA_AHEAD_SECONDS // 86400} days Squall accepts (epoch seconds expected, "
                    "not milliseconds); send it again with a nearer eta"
                )
                return self.outcomes.reject(delivery, reason, "EtaTooFar", envelope=envelope)
            return self.queue.keep(delivery, envelope, wait, Outcome.EARLY)
        expires = envelope.options.get("expires_at")
        if expires is None:  # a schedule's firing, a send by name: relative to when it was made
            after = envelope.options.get("expires_after", task.options.expires)
            expires = None if after is None else envelope.created + after
        if expires is not None and now >= expires:
            return self.outcomes.expire(delivery, envelope, task, expires)
        if self.queue.near_last_receive(delivery):
            # Close to the last receive SQS allows: a few more without an outcome (throttles, crashes) and the
            # redrive policy would move it. Start over with a fresh copy before running anything (no attempt spent).
            return self.queue.resend(delivery, envelope, 0.0, "refresh")
        needed = self.durations.expected(task, budget_seconds) + limits.DEADLINE_MARGIN_SECONDS
        if needed > remaining_seconds:
            declared = task.options.expected_duration
            if declared is not None and budget_seconds is not None and needed > budget_seconds:
                reason = (
                    f"task {task.name!r} declares expected_duration={declared:g} s, which can never fit in this "
                    f"worker's {budget_seconds:.0f} s invocations (less {limits.DEADLINE_MARGIN_SECONDS:g} s for "
                    "writes); raise the worker timeout or lower expected_duration"
                )
                return self.outcomes.reject(delivery, reason, "NeverFits", envelope=envelope)
            return self.queue.keep(delivery, envelope, 0.0, Outcome.DEFERRED)
        admission = self.extensions.before_claim(envelope, task)
        if admission.defer is not None:
            return self.queue.keep(delivery, envelope, admission.defer, Outcome.HELD)
        if not task.options.track:
            return self.untracked.run(delivery, envelope, task)
        limit = task.options.max_retries if envelope.max_retries is None else envelope.max_retries
        claim = self.app.store.claim(
            envelope.id,
            name=task.name,
            queue=envelope.queue,
            created=envelope.created,
            eta=envelope.eta,
            max_retries=limit,
            lease_seconds=remaining_seconds + limits.LEASE_SLACK_SECONDS,
            ttl_seconds=limits.DEAD_RECORD_TTL_SECONDS,
            due_tolerance=ETA_TOLERANCE_SECONDS,
        )
        if claim.outcome == "finished":
            current = claim.current
            if current is not None and current.state is State.DEAD:
                return self.outcomes.dead_again(delivery, envelope, current)
            if current is not None:  # its next steps, again: the first delivery may have crashed before sending
                self.flow.again(envelope, current)
            return Outcome.DUPLICATE
        if claim.outcome == "busy":
            lease_until = claim.current.lease_until if claim.current else None
            return self.queue.keep(delivery, envelope, (lease_until or now) - now + 1, Outcome.BUSY)
        if claim.outcome == "early":
            due = claim.current.next_attempt_at if claim.current else None
            return self.queue.keep(delivery, envelope, (due or now) - now, Outcome.EARLY)
        limit = claim.max_retries  # the recorded budget: a retry(max_retries=) may have changed it
        if claim.attempt > limit + 1:
            reason = (
                f"attempt {claim.attempt} exceeds max_retries={limit}: the previous attempt(s) recorded no outcome "
                "(the worker crashed or ran out of time while running the task)"
            )
            return self.outcomes.dead(delivery, envelope, reason, ErrorInfo("AttemptsExhausted", reason), claim.token)
        return self._run(delivery, envelope, task, claim.attempt, claim.token, limit)

    # --- running ------------------------------------------------------------------------------------------

    def _run(
        self, delivery: Delivery, envelope: Envelope, task: Task[..., Any], attempt: int, token: str, limit: int
    ) -> Outcome:
        options = task.options
        buffer = ProgressBuffer(self.app.store, envelope.id, token)
        started = clock.now()
        try:
            args = self.flow.body_arguments(envelope)  # a chord body: its members' results first
        except ChordMemberDead as exc:
            return self.outcomes.dead(delivery, envelope, str(exc), ErrorInfo("ChordMemberDead", str(exc)), token)
        context: TaskContext | None = None
        if options.bind:
            at = (envelope.id, task.name, attempt, envelope.queue, args, envelope.kwargs, envelope.eta)
            context = TaskContext(
                Request(*at, delivery.receive_count), buffer.report, functools.partial(buffer.report, immediate=True)
            )
        try:
            value = self.call(envelope, task, attempt, args, context)
        except LeaseLost:
            return Outcome.LEASE_LOST
        except Exception as exc:
            self.durations.observe(task, started)
            decision = decisions.after_failure(task, attempt, limit, exc)
            if decision.dead is not None:
                return self.outcomes.dead(delivery, envelope, decision.dead, decision.error, token)
            return self.outcomes.retry(
                delivery, envelope, task, token, decision.error, decision.delay, buffer.pending, decision.limit
            )
        self.durations.observe(task, started)
        return self.outcomes.succeed(delivery, envelope, task, token, value, buffer.pending)

    def call(
        self, envelope: Envelope, task: Task[..., Any], attempt: int, args: tuple[Any, ...], context: TaskContext | None
    ) -> Any:
        """Run the task once, through the extensions that wrap runs; its value, or what it raised."""
        if self.extensions.wrapping:
            run = lambda: calling.call(task, args, envelope.kwargs, context, envelope.options)  # noqa: E731
            return self.extensions.call(Call(envelope, task, attempt), run)
        return calling.call(task, args, envelope.kwargs, context, envelope.options)
