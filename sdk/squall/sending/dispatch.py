"""Sending prepared messages: each to its queue, or its lane's (SendMessage, or SendMessageBatch by queue), long
delays through one-time schedules (:mod:`squall.sending.delays`). :class:`squall.Squall`'s send methods end here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from squall import limits
from squall.errors import EnqueueError
from squall.sending import delays, producer
from squall.tasks.lanes import lane_of

if TYPE_CHECKING:
    from squall.config import QueueAddress
    from squall.protocols import App


def address(app: App, message: producer.Outgoing) -> QueueAddress:
    """Where ``message`` goes: its lane's queue (option ``lane``), else its queue (a queue with lanes: the
    deployed default lane); ConfigurationError for a queue or lane that is not deployed."""
    return app.settings.address(message.envelope.queue, lane_of(message.envelope))


def send_one(app: App, message: producer.Outgoing) -> None:
    """Send one prepared message; any failure is an EnqueueError naming its task id."""
    if message.delay_seconds > limits.SQS_MAX_DELAY_SECONDS:
        # Past SQS's per-message delay: a one-time EventBridge Scheduler schedule carries it.
        delays.send_later(app, message)
        return
    url = address(app, message).url
    try:
        producer.send_one(app.sqs, url, message)
    except Exception as exc:
        raise EnqueueError({message.envelope.id: f"{type(exc).__name__}: {exc}"}) from exc


def send_many(app: App, messages: Sequence[producer.Outgoing]) -> None:
    """Send checked messages: by queue in batches, long delays through the Scheduler; EnqueueError for any left."""
    by_queue: dict[str, list[producer.Outgoing]] = {}  # by queue URL: a lane is a queue of its own
    sent: list[str] = []
    failed: dict[str, str] = {}
    for message in messages:
        if message.delay_seconds > limits.SQS_MAX_DELAY_SECONDS:  # a signature's own long countdown
            try:
                delays.send_later(app, message)
                sent.append(message.envelope.id)
            except EnqueueError as exc:
                failed.update(exc.failed)
            continue
        by_queue.setdefault(address(app, message).url, []).append(message)
    for url, group in by_queue.items():
        try:
            sent.extend(producer.send_many(lambda: app.sqs, url, group))
        except EnqueueError as exc:
            sent.extend(exc.sent)
            failed.update(exc.failed)
    if failed:
        raise EnqueueError(failed, sent)
