"""The correction of moto's FIFO message-group blocking (the rest of moto's SQS internals: motoshim).

AWS: "When you receive a message with a message group ID, no more messages for the same message group ID are
returned unless you delete the message or it becomes visible" (SQS Developer Guide, "Message ordering in FIFO
queues"). moto blocks a group while any message of it is in its pending set, but drops a message whose
visibility timeout ran out from that set only when its receive loop reaches it, and it checks the group
against a copy taken before: when a batch's messages all become visible again (a failed or timed-out
invocation), the head is skipped because the second is still "pending", and the second is delivered first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from squall.local.replacing import replaced


def _release_visible(queue: Any) -> None:
    """Drop from moto's pending set every message that is visible again (no longer in flight)."""
    if not queue.fifo_queue:
        return
    with queue._messages_lock:
        for message in [m for m in queue.pending_messages if m.visible]:
            queue.pending_messages.discard(message)


@contextmanager
def fifo_groups_unblock_when_visible() -> Iterator[None]:
    """A FIFO group is blocked only while one of its messages is in flight, and its order is kept, as on AWS."""
    from moto.sqs import models

    def receive_message(original: Any) -> Any:
        def patched(backend: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
            _release_visible(backend.get_queue(queue_name))
            return original(backend, queue_name, *args, **kwargs)

        return patched

    with replaced(models.SQSBackend, "receive_message", receive_message):
        yield
