"""How a delivery ends, written down: SUCCESS, RETRY, DEAD, REVOKED as expired, each before its message goes.

:class:`Outcomes` holds the writes that end a delivery for :class:`squall.worker.execution.Executor`, in the order
that keeps DynamoDB, the queue and the DLQ agreeing (the state first, then the message: a retry's next copy, a
dead letter, a workflow's next steps). ``seen`` collects what was written, for the extensions' ``after_outcome``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from squall import clock, limits
from squall.errors import EncodeError, ItemTooLarge, LeaseLost, MessageTooLarge
from squall.offload.results import stored_result
from squall.sending.producer import encode_body
from squall.state.schema import ErrorInfo, Progress, TaskRecord
from squall.states import State
from squall.tasks.task import Task
from squall.wire import codec
from squall.worker.delivery import Delivery, Outcome

if TYPE_CHECKING:
    from squall.protocols import App
    from squall.wire.envelope import Envelope
    from squall.worker.queueside import QueueSide
    from squall.worker.workflows import Workflows


class Outcomes:
    """The executor's ending writes, for one app."""

    def __init__(self, app: App, queue: QueueSide, flow: Workflows, seen: MutableMapping[str, Any]) -> None:
        self.app, self.queue, self.flow, self._seen = app, queue, flow, seen

    def succeed(
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
                return self.dead(delivery, envelope, reason, ErrorInfo("EncodeError", reason), token)
            try:  # past the item's room, to the payload bucket (when the app has one)
                result_json = stored_result(self.app, envelope.id, result_json, task.name)
            except MessageTooLarge as exc:
                return self.dead(delivery, envelope, str(exc), ErrorInfo("MessageTooLarge", str(exc)), token)
            size = len(result_json.encode("utf-8"))
            if size > limits.MAX_RESULT_BYTES:
                return self.too_large(delivery, envelope, token, f"the result is {size:,} bytes")
        ttl = task.options.result_ttl
        if self.app.signer is not None:
            ttl = max(ttl, limits.SIGNED_ENVELOPE_MAX_AGE_SECONDS)  # a replay within the window finds the record
        try:
            self.app.store.finish(envelope.id, token, result_json=result_json, progress=progress, ttl_seconds=ttl)
        except LeaseLost:
            return Outcome.LEASE_LOST
        except ItemTooLarge:
            # Refused whole (DynamoDB applies an update all or nothing): never retried, which would run it again.
            return self.too_large(delivery, envelope, token, "the result and the task's record together are")
        self._seen.update(state=State.SUCCESS, result=value)
        self.flow.succeeded(envelope, value)  # the next steps go before this message is acknowledged
        return Outcome.SUCCEEDED

    def too_large(self, delivery: Delivery, envelope: Envelope, token: str, what: str) -> Outcome:
        reason = (
            f"{what} over the {limits.MAX_RESULT_BYTES:,}-byte limit of a stored result (DynamoDB items hold "
            f"{limits.DYNAMODB_MAX_ITEM_BYTES:,} bytes); return a reference (an S3 key) instead"
        )
        return self.dead(delivery, envelope, reason, ErrorInfo("ResultTooLarge", reason), token)

    def retry(
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
        if self.queue.fifo(delivery) and self.queue.receives_spent(delivery):
            # A FIFO retry keeps this message: one more receive could let the redrive policy move it unrecorded.
            reason = (
                f"{error.type}: {error.message} (not retried: this FIFO message was received {delivery.receive_count} "
                f"times, and its queue's redrive policy moves it after {limits.MAX_RECEIVE_COUNT}; a retry on FIFO "
                "is the same message received again)"
            )
            return self.dead(delivery, envelope, reason, error, token)
        delay = min(max(0.0, delay), float(limits.MAX_ETA_AHEAD_SECONDS))
        due = clock.now() + delay
        # The next attempt is a new message due then, carrying the budget this attempt decided on.
        carried = None if limit == task.options.max_retries else limit
        try:
            body = encode_body(task, dataclasses.replace(envelope, eta=due, max_retries=carried))
        except (EncodeError, MessageTooLarge) as exc:
            reason = f"{error.type}: {error.message} (its retry cannot be sent: {exc})"
            return self.dead(delivery, envelope, reason, error, token)
        try:
            self.app.store.retry(
                envelope.id, token, error=error, next_attempt_at=due, progress=progress, max_retries=limit
            )
        except LeaseLost:
            return Outcome.LEASE_LOST
        self._seen.update(state=State.RETRY, error=error)
        if self.queue.fifo(delivery):
            # A new message would go behind the rest of its group: on FIFO the received one is kept, hidden until
            # the attempt is due (or as long as SQS allows; it then waits again, claim "early"), and its group
            # waits with it. The recorded RETRY carries the attempt count and budget, not the body.
            return self.queue.keep(delivery, envelope, delay, Outcome.RETRY_KEPT)
        # RETRY is recorded first: if this send fails, the record error keeps the received message, which
        # comes back and waits (claim "early") until the attempt is due.
        self.queue.send_new(delivery, envelope, body, delay, f"{envelope.id}#retry#{due:.3f}")
        return Outcome.RETRYING

    def expire(self, delivery: Delivery, envelope: Envelope, task: Task[..., Any], expires: float) -> Outcome:
        """A task past its ``expires``: REVOKED with the reason (tracked), acknowledged, never run."""
        late = clock.now() - expires
        when = datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds")
        reason = f"expired: not run, {late:,.0f} s past its expires time ({when}); send it again with a later expires"
        self._seen.update(state=State.REVOKED, reason=reason)
        if task.options.track:
            current = self.app.store.revoke(
                envelope.id,
                ttl_seconds=limits.DEAD_RECORD_TTL_SECONDS,
                reason=reason,
                name=task.name,
                queue=envelope.queue,
                created=envelope.created,
            )
            if current is not None:  # it ran, runs, or was revoked already: this copy is a duplicate
                self._seen.clear()
                if current.state is State.DEAD:
                    return self.dead_again(delivery, envelope, current)
                return Outcome.DUPLICATE
        self.flow.dead(envelope, reason, errbacks=False)  # the rest of its workflow stops, as for a revoked step
        return Outcome.EXPIRED

    def refuse_expired(self, delivery: Delivery, envelope: Envelope, age: float) -> Outcome:
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

    def reject(
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

    def dead(self, delivery: Delivery, envelope: Envelope, reason: str, error: ErrorInfo, token: str) -> Outcome:
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

    def dead_again(self, delivery: Delivery, envelope: Envelope, current: TaskRecord) -> Outcome:
        """Another delivery of a DEAD task: a duplicate once its letter is known sent, else its copy is the letter."""
        if current.lettered_at is not None:
            self.flow.dead(envelope, current.reason or "the task is DEAD")
            return Outcome.DUPLICATE
        reason = current.reason or "the task is DEAD"
        self._seen.update(state=State.DEAD, reason=reason)
        self.queue.send_to_dlq(delivery, reason, envelope.id)
        self.flow.dead(envelope, reason)
        return Outcome.DEAD
