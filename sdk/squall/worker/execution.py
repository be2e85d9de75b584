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

import dataclasses
import functools
from typing import TYPE_CHECKING, Any

from squall import backoff, clock, limits
from squall.errors import (
    ConfigurationError,
    DecodeError,
    EncodeError,
    InvalidArguments,
    ItemTooLarge,
    LeaseLost,
    MessageTooLarge,
    TaskNotRegistered,
)
from squall.sending.producer import encode_body
from squall.state.schema import ErrorInfo, Progress, TaskRecord
from squall.states import State
from squall.tasks.extensions import Call, ExtensionChain, OutcomeEvent
from squall.tasks.task import Request, Retry, Task, TaskContext
from squall.wire import codec
from squall.wire.bodies import chain_for
from squall.wire.envelope import Envelope
from squall.worker import calling
from squall.worker.deadletters import forwardable
from squall.worker.delivery import Delivery, Outcome, ProgressBuffer, error_info
from squall.worker.durations import Durations
from squall.worker.queueside import QueueSide
from squall.worker.resend import send_again
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

    def __init__(self, app: App) -> None:
        self.app = app
        self.extensions = ExtensionChain(app.extensions)
        self.queue = QueueSide(app)
        #: What the delivery in hand has recorded so far, for its ``after_outcome`` event.
        self._seen: dict[str, Any] = {}
        self.durations = Durations()
        self.flow = Workflows(app)

    @property
    def settings(self) -> Settings:
        return self.app.settings

    def process(self, delivery: Delivery, remaining_seconds: float, *, budget_seconds: float | None = None) -> Outcome:
        """Handle one delivery; the app's extensions hear how it ended before its message is acknowledged.

        ``remaining_seconds`` is how long this invocation may still run; ``budget_seconds``, how long it could
        run when it started (its timeout), when known.
        """
        self._seen = {}
        outcome = self._process(delivery, remaining_seconds, budget_seconds)
        if self.extensions.extensions:
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

    def _process(self, delivery: Delivery, remaining_seconds: float, budget_seconds: float | None) -> Outcome:
        bodies = chain_for(self.app)
        try:
            # Signing decodes first: with it on, nothing but the signature header is read before it checks out.
            envelope = Envelope.decode(bodies.decode(delivery.body))
        except DecodeError as exc:  # a bad signature, a body a codec cannot read, or not an envelope
            return self._reject(delivery, f"malformed message: {exc.reason}", "DecodeError", task_id=exc.task_id)
        except ConfigurationError:
            # The keyring cannot be read (SSM or Secrets Manager unreachable, or misconfigured): no message can
            # be checked, and none is to blame. Keep it without spending its budget; the handler logs and counts.
            return self.queue.keep(delivery, None, limits.KEYRING_RETRY_SECONDS, Outcome.KEYS_UNAVAILABLE)
        self._seen["envelope"] = envelope
        try:
            task = self.app.get_task(envelope.task)
            task.bind_arguments(self.flow.arguments_shape(envelope), envelope.kwargs)
        except (TaskNotRegistered, InvalidArguments) as exc:
            return self._reject(delivery, str(exc), type(exc).__name__, envelope=envelope)
        self._seen["task"] = task
        now = clock.now()
        if bodies.signs:
            age = now - max(envelope.created, envelope.eta or 0.0)
            if age > limits.SIGNED_ENVELOPE_MAX_AGE_SECONDS:
                return self._refuse_expired(delivery, envelope, age)
        if envelope.eta is not None and envelope.eta - now > ETA_TOLERANCE_SECONDS:
            wait = envelope.eta - now
            if wait > limits.MAX_ETA_AHEAD_SECONDS:
                reason = (
                    f"eta {envelope.eta!r} is {wait / 86400:,.0f} days ahead, more than the "
                    f"{limits.MAX_ETA_AHEAD_SECONDS // 86400} days Squall accepts (epoch seconds expected, "
                    "not milliseconds); send it again with a nearer eta"
                )
                return self._reject(delivery, reason, "EtaTooFar", envelope=envelope)
            return self.queue.keep(delivery, envelope, wait, Outcome.EARLY)
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
                return self._reject(delivery, reason, "NeverFits", envelope=envelope)
            return self.queue.keep(delivery, envelope, 0.0, Outcome.DEFERRED)
        admission = self.extensions.before_claim(envelope, task)
        if admission.defer is not None:
            return self.queue.keep(delivery, envelope, admission.defer, Outcome.HELD)
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
                return self._dead_again(delivery, envelope, current)
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
            return self._dead(delivery, envelope, reason, ErrorInfo("AttemptsExhausted", reason), claim.token)
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
            return self._dead(delivery, envelope, str(exc), ErrorInfo("ChordMemberDead", str(exc)), token)
        context: TaskContext | None = None
        if options.bind:
            at = (envelope.id, task.name, attempt, envelope.queue, args, envelope.kwargs, envelope.eta)
            context = TaskContext(
                Request(*at, delivery.receive_count), buffer.report, functools.partial(buffer.report, immediate=True)
            )
        try:
            if self.extensions.extensions:
                run = lambda: calling.call(task, args, envelope.kwargs, context)  # noqa: E731
                value = self.extensions.call(Call(envelope, task, attempt), run)
            else:
                value = calling.call(task, args, envelope.kwargs, context)
        except LeaseLost:
            return Outcome.LEASE_LOST
        except Retry as retry:
            self.durations.observe(task, started)
            limit = limit if retry.max_retries is None else retry.max_retries
            error = error_info(retry.exc) if retry.exc else ErrorInfo("Retry", "the task asked to be retried")
            if attempt > limit:
                reason = f"retries exhausted after {attempt} attempts (max_retries={limit}): {error.message}"
                return self._dead(delivery, envelope, reason, error, token)
            delay = retry.countdown if retry.countdown is not None else self._backoff(task, attempt)
            return self._retry(delivery, envelope, task, token, error, delay, buffer.pending, limit)
        except Exception as exc:
            self.durations.observe(task, started)
            error = error_info(exc)
            if not options.should_retry(exc):
                reason = f"{error.type}: {error.message} (not retried: not in autoretry_for, or in dont_autoretry_for)"
                return self._dead(delivery, envelope, reason, error, token)
            if attempt > limit:
                reason = f"{error.type}: {error.message} (retries exhausted after {attempt} attempts)"
                return self._dead(delivery, envelope, reason, error, token)
            return self._retry(
                delivery, envelope, task, token, error, self._backoff(task, attempt), buffer.pending, limit
            )
        self.durations.observe(task, started)
        return self._succeed(delivery, envelope, task, token, value, buffer.pending)

    def _backoff(self, task: Task[..., Any], attempt: int) -> float:
        options = task.options
        return backoff.retry_delay(
            attempt, base=options.retry_backoff, cap=options.retry_backoff_max, jitter=options.retry_jitter
        )

    # --- outcomes -----------------------------------------------------------------------------------------

    def _succeed(
        self,
        delivery: Delivery,
        envelope: Envelope,
        task: Task[..., Any],
        token: str,
        value: Any,
        progress: Progress | None,
    ) -> Outcome:
        result_json = None
        if not task.options.ignore_result:
            try:
                result_json = codec.dumps(value, "result")
            except EncodeError as exc:
                reason = f"the task's return value cannot be stored: {exc}"
                return self._dead(delivery, envelope, reason, ErrorInfo("EncodeError", reason), token)
            size = len(result_json.encode("utf-8"))
            if size > limits.MAX_RESULT_BYTES:
                return self._too_large(delivery, envelope, token, f"the result is {size:,} bytes")
        ttl = task.options.result_ttl
        if self.app.signer is not None:
            ttl = max(ttl, limits.SIGNED_ENVELOPE_MAX_AGE_SECONDS)  # a replay within the window finds the record
        try:
            self.app.store.finish(envelope.id, token, result_json=result_json, progress=progress, ttl_seconds=ttl)
        except LeaseLost:
            return Outcome.LEASE_LOST
        except ItemTooLarge:
            # Refused whole (DynamoDB applies an update all or nothing): never retried, which would run it again.
            return self._too_large(delivery, envelope, token, "the result and the task's record together are")
        self._seen.update(state=State.SUCCESS, result=value)
        self.flow.succeeded(envelope, value)  # the next steps go before this message is acknowledged
        return Outcome.SUCCEEDED

    def _too_large(self, delivery: Delivery, envelope: Envelope, token: str, what: str) -> Outcome:
        reason = (
            f"{what} over the {limits.MAX_RESULT_BYTES:,}-byte limit of a stored result (DynamoDB items hold "
            f"{limits.DYNAMODB_MAX_ITEM_BYTES:,} bytes); return a reference (an S3 key) instead"
        )
        return self._dead(delivery, envelope, reason, ErrorInfo("ResultTooLarge", reason), token)

    def _retry(
        self,
        delivery: Delivery,
        envelope: Envelope,
        task: Task[..., Any],
        token: str,
        error: ErrorInfo,
        delay: float,
        progress: Progress | None,
        limit: int,
    ) -> Outcome:
        delay = min(max(0.0, delay), float(limits.MAX_ETA_AHEAD_SECONDS))
        due = clock.now() + delay
        # The next attempt is a new message due then, carrying the budget this attempt decided on.
        carried = None if limit == task.options.max_retries else limit
        try:
            body = encode_body(task, dataclasses.replace(envelope, eta=due, max_retries=carried))
        except (EncodeError, MessageTooLarge) as exc:
            reason = f"{error.type}: {error.message} (its retry cannot be sent: {exc})"
            return self._dead(delivery, envelope, reason, error, token)
        try:
            self.app.store.retry(
                envelope.id, token, error=error, next_attempt_at=due, progress=progress, max_retries=limit
            )
        except LeaseLost:
            return Outcome.LEASE_LOST
        self._seen.update(state=State.RETRY, error=error)
        # RETRY is recorded first: if this send fails, the record error keeps the received message, which
        # comes back and waits (claim "early") until the attempt is due.
        send_again(
            self.app,
            queue=self.queue.queue_name(delivery),
            body=body,
            delay=delay,
            key=f"{envelope.id}#retry#{due:.3f}",
            attributes=forwardable(delivery.attributes),
        )
        return Outcome.RETRYING

    def _refuse_expired(self, delivery: Delivery, envelope: Envelope, age: float) -> Outcome:
        """A signed envelope past its acceptance window: DEAD, unless its task is known (then a replayed copy)."""
        reason = (
            f"signed envelope expired: it was due {age / 86400:.1f} days ago, more than the "
            f"{limits.SIGNED_ENVELOPE_MAX_AGE_SECONDS // 86400} days a signed message is accepted (replay "
            "protection); send the task again"
        )
        current = self.app.store.dead(
            envelope.id,
            reason=reason,
            error=ErrorInfo("EnvelopeExpired", reason),
            ttl_seconds=limits.DEAD_RECORD_TTL_SECONDS,
            name=envelope.task,
            queue=envelope.queue,
            created=envelope.created,
        )
        if current is not None:
            return Outcome.DUPLICATE  # the task finished or runs: this is a replayed copy of it
        self._seen.update(state=State.DEAD, reason=reason, error=ErrorInfo("EnvelopeExpired", reason))
        self.queue.send_to_dlq(delivery, reason, envelope.id)
        self.flow.dead(envelope, reason)
        return Outcome.DEAD

    def _reject(
        self,
        delivery: Delivery,
        reason: str,
        kind: str,
        *,
        task_id: str | None = None,
        envelope: Envelope | None = None,
    ) -> Outcome:
        """Dead-letter a message that cannot be run at all; it was never claimed."""
        # The reason can quote the message (a 300 KB keyword name): keep the DEAD item within DynamoDB's limit.
        reason = reason[: limits.MAX_ERROR_MESSAGE_CHARS]
        task_id = envelope.id if envelope else task_id
        self._seen.update(state=State.DEAD, reason=reason, error=ErrorInfo(kind, reason))
        if task_id is not None:  # DEAD first (unless the task finished or runs), then its letter
            self.app.store.dead(
                task_id,
                reason=reason,
                error=ErrorInfo(kind, reason),
                ttl_seconds=limits.DEAD_RECORD_TTL_SECONDS,
                name=envelope.task if envelope else None,
                queue=envelope.queue if envelope else None,
                created=envelope.created if envelope else None,
            )
        self.queue.send_to_dlq(delivery, reason, task_id)
        if envelope is not None:
            self.flow.dead(envelope, reason)
        return Outcome.DEAD

    def _dead(self, delivery: Delivery, envelope: Envelope, reason: str, error: ErrorInfo, token: str) -> Outcome:
        # DEAD first, then the DLQ copy. If the DEAD write fails, nothing is in the DLQ and the kept message runs
        # again later (as after a crash); if the DLQ send fails, the kept message comes back, finds the task DEAD
        # and puts its copy in the DLQ then (see _dead_again). Either way DLQ and DEAD end up agreeing.
        try:
            self.app.store.dead(
                envelope.id, reason=reason, error=error, token=token, ttl_seconds=limits.DEAD_RECORD_TTL_SECONDS
            )
        except LeaseLost:
            return Outcome.LEASE_LOST
        self._seen.update(state=State.DEAD, reason=reason, error=error)
        self.queue.send_to_dlq(delivery, reason, envelope.id)
        self.flow.dead(envelope, reason)
        return Outcome.DEAD

    def _dead_again(self, delivery: Delivery, envelope: Envelope, current: TaskRecord) -> Outcome:
        """Another delivery of a DEAD task: a duplicate once its letter is known sent, else its copy is the letter."""
        if current.lettered_at is not None:
            self.flow.dead(envelope, current.reason or "the task is DEAD")
            return Outcome.DUPLICATE
        reason = current.reason or "the task is DEAD"
        self._seen.update(state=State.DEAD, reason=reason)
        self.queue.send_to_dlq(delivery, reason, envelope.id)
        self.flow.dead(envelope, reason)
        return Outcome.DEAD
