"""Keeping a received message, sending it again, or dead-lettering it: the worker's side of the queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

from squall import clock, limits
from squall.errors import ConfigurationError
from squall.sending.producer import message_group
from squall.worker import deadletters
from squall.worker.delivery import Delivery, Outcome
from squall.worker.resend import send_again

if TYPE_CHECKING:
    from squall.protocols import App
    from squall.wire.envelope import Envelope

#: Longest a kept message may stay hidden by ChangeMessageVisibility: SQS caps a receive's total in-flight time
#: at 12 h, and up to one whole invocation (15 min) may already have passed since this receive.
MAX_HOLD_SECONDS = limits.SQS_MAX_VISIBILITY_SECONDS - limits.LAMBDA_MAX_TIMEOUT_SECONDS


class QueueSide:
    """What the worker does to the message it received, on the queue it came from."""

    def __init__(self, app: App) -> None:
        self.app = app

    def keep(self, delivery: Delivery, envelope: Envelope | None, seconds: float, outcome: Outcome) -> Outcome:
        """Keep the message for ``seconds``: hidden on the queue if SQS can hold it that long, else a fresh copy."""
        seconds = max(0.0, seconds)
        if self.fifo(delivery):
            # Never a fresh copy on FIFO: it would go behind the rest of its message group.
            self.set_visibility(delivery, min(seconds, MAX_HOLD_SECONDS))
            return outcome
        retention_left = None
        if delivery.sent_at is not None:
            retention_left = delivery.sent_at + limits.DEFAULT_QUEUE_RETENTION_SECONDS - clock.now()
        if (
            not self.near_last_receive(delivery)
            and seconds <= MAX_HOLD_SECONDS
            and (retention_left is None or seconds + limits.RETENTION_MARGIN_SECONDS < retention_left)
        ):
            self.set_visibility(delivery, seconds)
            return outcome
        return self.resend(delivery, envelope, seconds, outcome.value)

    def resend(self, delivery: Delivery, envelope: Envelope | None, seconds: float, why: str) -> Outcome:
        """Send the message, as received, again as a new message ``seconds`` from now; this copy is deleted."""
        ident = envelope.id if envelope is not None else delivery.message_id
        key = f"{ident}#{why}#{delivery.message_id}#{delivery.receive_count}"
        self.send_new(delivery, envelope, delivery.body, seconds, key)
        return Outcome.RESENT

    def send_new(self, delivery: Delivery, envelope: Envelope | None, body: str, seconds: float, key: str) -> None:
        """Send ``body`` to the delivery's queue as a new message ``seconds`` from now, with the delivery's own
        attributes and message group (a retry, a fresh copy); ``key`` names this send (see send_again)."""
        send_again(
            self.app,
            queue=self.queue_name(delivery),
            body=body,
            delay=seconds,
            key=key,
            attributes=deadletters.forwardable(delivery.attributes),
            group=message_group(envelope) if envelope is not None else None,
        )

    def queue_name(self, delivery: Delivery) -> str:
        """The logical queue the delivery came from; ConfigurationError for a queue that is not the app's."""
        name = self.app.settings.queue_name_for_arn(delivery.queue_arn)
        if name is None:
            raise ConfigurationError(
                f"message from {delivery.queue_arn}, which is not one of app {self.app.name!r}'s queues; it stays "
                "on its queue. Check the worker's event sources and SQUALL_CONFIG."
            )
        return name

    def fifo(self, delivery: Delivery) -> bool:
        """Whether the delivery came from a FIFO queue (its name ends in ``.fifo``)."""
        return delivery.queue_arn.endswith(".fifo")

    def near_last_receive(self, delivery: Delivery) -> bool:
        """Whether so few receives are left before the redrive policy's maxReceiveCount that a few throttled
        ones could use them up: the message is then sent again fresh rather than kept or run. Never on FIFO,
        where a fresh copy would go behind its message group: there the redrive policy has the last word."""
        if self.fifo(delivery):
            return False
        limit = self.app.settings.queue(self.queue_name(delivery)).max_receive_count
        return delivery.receive_count >= limit - limits.RECEIVE_HEADROOM

    def receives_spent(self, delivery: Delivery) -> bool:
        """On a FIFO queue, where a retry keeps the received message: whether so few receives are left before the
        redrive policy's maxReceiveCount that keeping it could let SQS move it to the DLQ unrecorded."""
        limit = self.app.settings.queue(self.queue_name(delivery)).max_receive_count
        return delivery.receive_count > limit - limits.FIFO_RECEIVE_HEADROOM

    def set_visibility(self, delivery: Delivery, seconds: float) -> None:
        """Hide the received message for ``seconds`` (whole, rounded up)."""
        whole = min(max(0, int(-(-seconds // 1))), limits.SQS_MAX_VISIBILITY_SECONDS)
        self.app.sqs.change_message_visibility(
            QueueUrl=self.app.settings.queue(self.queue_name(delivery)).url,
            ReceiptHandle=delivery.receipt_handle,
            VisibilityTimeout=whole,
        )

    def send_to_dlq(self, delivery: Delivery, reason: str, task_id: str | None, *, note: bool = True) -> None:
        """Put the received message in its queue's DLQ with the reason (``note``: on the task's record too)."""
        deadletters.send_to_dlq(
            self.app,
            self.queue_name(delivery),
            delivery.body,
            reason=reason,
            task_id=task_id,
            receive_count=delivery.receive_count,
            forwarded=delivery.attributes,
            note=note,
            group=delivery.group,
        )
