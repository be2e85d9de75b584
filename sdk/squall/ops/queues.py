"""Queue depths from SQS: what ``squall stats`` and the dashboard's overview show per queue.

GetQueueAttributes' visible, in-flight and delayed counts are approximate, as SQS says. A source queue's oldest
message age is not among them (it is CloudWatch's ApproximateAgeOfOldestMessage, on the stack's dashboard);
a DLQ's is read from the SentTimestamp of the first messages a peek returns (a standard DLQ keeps the original
enqueue time), which adds to their receive count, something nothing reads on a DLQ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from squall.ops import dlq

if TYPE_CHECKING:
    from squall.protocols import App

#: Messages peeked per DLQ to find the oldest.
PEEK_FOR_AGE = 100
_DEPTHS = {
    "visible": "ApproximateNumberOfMessages",
    "in_flight": "ApproximateNumberOfMessagesNotVisible",
    "delayed": "ApproximateNumberOfMessagesDelayed",
}


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """One queue's approximate depths, its DLQ's depth and when the DLQ's oldest message was first sent."""

    queue: str
    visible: int
    in_flight: int
    delayed: int
    dlq: int
    #: Epoch seconds the oldest dead letter was first sent (None: the DLQ is empty).
    dlq_oldest_sent: float | None


def depths(app: App, url: str) -> dict[str, int]:
    """``visible``, ``in_flight`` and ``delayed`` of the queue at ``url`` (one GetQueueAttributes)."""
    names: Any = list(_DEPTHS.values())
    attributes: Any = app.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return {key: int(attributes.get(name, 0)) for key, name in _DEPTHS.items()}


def queue_depth(app: App, name: str) -> QueueDepth:
    """The depths of queue ``name`` and of its DLQ (two GetQueueAttributes, a peek when the DLQ holds any)."""
    address = app.settings.queue(name)
    dlq_depth = sum(depths(app, address.dlq_url).values())
    sent = [m.sent_at for m in dlq.peek(app, name, limit=PEEK_FOR_AGE) if m.sent_at] if dlq_depth else []
    return QueueDepth(name, **depths(app, address.url), dlq=dlq_depth, dlq_oldest_sent=min(sent) if sent else None)


def all_depths(app: App) -> list[QueueDepth]:
    """:func:`queue_depth` of every queue of the app, in declaration order."""
    return [queue_depth(app, name) for name in app.settings.queues]
