"""The reconciler: what SQS's redrive policy moved is recorded DEAD with a reason, then put in its DLQ.

Every source queue's redrive policy targets the app's intake queue (:class:`squall.deploy.topology.IntakeResource`).
A message lands there only after ``maxReceiveCount`` receives on which the worker never acted — Lambda
throttled the batch, or the function crashed or timed out before reaching the record — because the worker
itself sends a fresh copy on a message's last receive and makes every retry a new message. For each one,
the reconciler:

1. opens it as the worker would, through the app's body codecs (checking its signature when the app signs;
   with the keys unreadable the record fails and the message waits on the intake queue, which has no
   redrive policy of its own);
2. records its task DEAD with the reason, unless the task already finished (the message is then a leftover
   copy: acknowledged) or a live attempt holds it (kept: the attempt's own outcome decides, and the copy
   is looked at again after the intake's visibility timeout);
3. sends it to its source queue's DLQ with Squall's attributes (reason, task id, source), does what a DEAD
   workflow step does (:class:`squall.worker.workflows.Workflows`: error callbacks, later chain steps DEAD, the
   chord member counted) and acknowledges it.

A moved copy of a task that is DEAD already keeps the task's own reason (no write): it goes to the DLQ beside
the task's letter, so that a DEAD task never lacks one even if an earlier DLQ send failed.

So every DLQ message carries a reason and every DEAD task's message is in its DLQ, whichever path put it
there; the bound is the intake's batching (seconds) after SQS moves the message.

FIFO queues redrive into the app's FIFO intake queue instead (a FIFO queue's dead-letter queue must be FIFO: SQS
Developer Guide, "Configure a dead-letter queue"), which the same function drains through a second event source,
in the same way. There a message may also have been *held* through its receives (deferred by an extension or the
limiter, its signing keys unreadable, its task held by another attempt, or skipped behind its group's head), since
the worker never sends a FIFO message again. Its letter goes to the FIFO DLQ in its own message group (the one
the producer sent it in: a redrive puts it back there) with a deduplication id of the task, its redrive count and
``#moved``, the same on every receive of the intake, so that a reconciler retry inside SQS's five-minute
deduplication interval adds no second letter (SendMessage API reference, MessageDeduplicationId; content-based
deduplication is off on every Squall FIFO queue, squall.deploy.fifo).
"""

from __future__ import annotations

import hashlib
from enum import Enum
from typing import TYPE_CHECKING

from squall import limits
from squall.deploy import fifo as fifo_rules
from squall.errors import DecodeError, SignatureError
from squall.sending.producer import message_group
from squall.state.schema import ErrorInfo
from squall.states import State
from squall.wire.bodies import chain_for
from squall.wire.envelope import Envelope
from squall.worker.deadletters import send_to_dlq
from squall.worker.workflows import Workflows

if TYPE_CHECKING:
    from squall.protocols import App
    from squall.state.schema import TaskRecord
    from squall.worker.execution import Delivery

#: Why a FIFO message may have spent its receives, besides a standard one's reasons (it is never sent again fresh).
FIFO_KEPT = ", or kept it on its FIFO queue: deferred, keys unreadable, held by another attempt or behind its group"
#: The suffix of a moved FIFO message's deduplication id in its DLQ (after the task id and its redrive count).
MOVED_SUFFIX = "#moved"


class Reconciled(Enum):
    """How the reconciler handled one message from the intake queue."""

    DEAD = "dead"  # recorded DEAD (or unusable, with no task to record) and moved to its DLQ: delete
    LEFTOVER = "leftover"  # its task had already finished: a spare copy, delete
    RUNNING = "running"  # a live attempt holds its task: keep, looked at again later

    @property
    def keeps_message(self) -> bool:
        """Whether the message stays on the intake queue."""
        return self is Reconciled.RUNNING


class Reconciler:
    """Records what the redrive policy moved, for one app."""

    def __init__(self, app: App) -> None:
        self.app = app

    def process(self, delivery: Delivery) -> Reconciled:
        """Handle one message of the intake queue; AWS errors and an unreadable keyring propagate (kept)."""
        settings = self.app.settings
        envelope: Envelope | None = None
        problem = None
        try:
            # ConfigurationError (the keys are unreadable) propagates: the message is kept.
            envelope = Envelope.decode(chain_for(self.app).decode(delivery.body))
            task_id: str | None = envelope.id
        except SignatureError as exc:
            task_id, problem = None, exc.reason  # an unverified id names no task: no state is written for it
        except DecodeError as exc:
            task_id, problem = exc.task_id, exc.reason
        queue = settings.queue_name_for_arn(delivery.source_arn or "")
        if queue is None:  # sent to the intake queue by hand, or from a queue the app no longer declares
            queue = envelope.queue if envelope and settings.has_queue(envelope.queue) else self.app.default_queue
        fifo = fifo_rules.is_fifo(settings.queue(queue).dlq_url)
        kept = FIFO_KEPT if fifo else ""
        moved = (
            f"moved by SQS's redrive policy after {limits.MAX_RECEIVE_COUNT} receives on which no outcome was recorded "
            f"(the worker was throttled, crashed or ran out of time each time{kept})"
        )
        reason = moved if problem is None else f"malformed message ({problem}); {moved}"
        current = self.app.store.get(task_id) if task_id is not None else None
        if current is not None and current.state is State.DEAD:
            if current.lettered_at is not None:
                self._again(envelope, current)
                return Reconciled.LEFTOVER  # a spare copy of a task whose letter is in the DLQ already
            # DEAD for its own reason, its letter not known sent: this copy is the letter, with that reason.
            reason = current.reason or reason
        elif task_id is not None:
            reason += "; the task was " + (
                "unknown" if current is None else f"{current.state}, attempt {current.attempt}"
            )
            reason = reason[: limits.MAX_ERROR_MESSAGE_CHARS]
            refused = self.app.store.dead(
                task_id,
                reason=reason,
                error=ErrorInfo("MovedByRedrivePolicy", reason),
                ttl_seconds=limits.DEAD_RECORD_TTL_SECONDS,
                name=envelope.task if envelope else None,
                queue=envelope.queue if envelope else None,
                created=envelope.created if envelope else None,
            )
            if refused is not None:
                if refused.state in (State.SUCCESS, State.REVOKED):
                    self._again(envelope, refused)
                    return Reconciled.LEFTOVER
                return Reconciled.RUNNING
        # DEAD is recorded first: if this send fails, the message stays on the intake queue and comes back.
        group, deduplication = self._fifo_letter(delivery, envelope, task_id) if fifo else (None, None)
        send_to_dlq(
            self.app,
            queue,
            delivery.body,
            reason=reason,
            task_id=task_id,
            receive_count=limits.MAX_RECEIVE_COUNT,
            forwarded=delivery.attributes,
            group=group,
            deduplication=deduplication,
        )
        if envelope is not None:  # a workflow step: its error callbacks, its chain's later steps, its chord's count
            Workflows(self.app).dead(envelope, reason)
        return Reconciled.DEAD

    @staticmethod
    def _fifo_letter(delivery: Delivery, envelope: Envelope | None, task_id: str | None) -> tuple[str, str]:
        """A moved FIFO message's letter: in its own message group (SQS keeps a message's group when it moves it;
        else the one the producer sent it in), deduplicated across reconciler retries of one receive."""
        key = task_id or hashlib.sha256(delivery.body.encode("utf-8")).hexdigest()
        group = delivery.group
        if group is None:
            group = key if envelope is None else message_group(envelope).get("MessageGroupId", envelope.id)
        redrives = envelope.redrives if envelope is not None else 0
        return group, f"{key}#{redrives}{MOVED_SUFFIX}"

    def _again(self, envelope: Envelope | None, current: TaskRecord) -> None:
        """A spare copy of a finished workflow step: the last chance to send its next steps, if no receive of the
        worker could (SQS unreachable each time). They run once, whoever sends them."""
        if envelope is not None:
            Workflows(self.app).again(envelope, current)
