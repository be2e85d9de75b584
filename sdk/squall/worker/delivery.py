"""What one delivery is and how it can end: the worker's vocabulary, shared by its handler and its tests."""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from squall import clock, limits
from squall.errors import EncodeError
from squall.state.schema import ErrorInfo, Progress
from squall.state.store import TaskStore


class Outcome(Enum):
    """How one delivery ended, and whether its message stays on the queue."""

    SUCCEEDED = "succeeded"  # ran and recorded SUCCESS: delete
    DUPLICATE = "duplicate"  # already finished (or revoked): delete without running
    DEAD = "dead"  # dead-lettered with its reason: delete from the source
    LEASE_LOST = "lease_lost"  # another attempt took the task over and owns its outcome: delete this copy
    RETRYING = "retrying"  # RETRY recorded and the next attempt's message sent: delete this one
    RETRY_KEPT = "retry_kept"  # FIFO: RETRY recorded, this message hidden until the next attempt: keep
    BUSY = "busy"  # another attempt holds a live claim: keep, back when that claim lapses
    EARLY = "early"  # not yet due (its ETA, or its RETRY's next attempt): keep, back then
    DEFERRED = "deferred"  # too little time left in this invocation to start it: keep, visible again at once
    HELD = "held"  # an extension's before_claim deferred it: keep, back when it said
    KEYS_UNAVAILABLE = "keys_unavailable"  # the signing keys could not be read: keep, tried again in a minute
    RESENT = "resent"  # kept as a fresh copy (its last receive, or a wait SQS cannot hold): delete this one
    EXPIRED = "expired"  # past its expires: REVOKED as expired (if tracked), never run: delete
    UNTRACKED_DONE = "untracked_done"  # a track=False task ran and returned: delete (no record is kept)

    @property
    def keeps_message(self) -> bool:
        """Whether the message must stay on the queue (reported as a batch item failure)."""
        return self in (
            Outcome.BUSY,
            Outcome.EARLY,
            Outcome.DEFERRED,
            Outcome.HELD,
            Outcome.KEYS_UNAVAILABLE,
            Outcome.RETRY_KEPT,
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One received SQS message, as the business step needs it."""

    message_id: str
    receipt_handle: str
    body: str
    queue_arn: str
    receive_count: int = 1
    #: The message's own attributes, in the Lambda event's shape.
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: When SQS accepted the message (epoch seconds), from its SentTimestamp.
    sent_at: float | None = None
    #: The source queue's ARN on a message SQS's redrive policy moved (its DeadLetterQueueSourceArn).
    source_arn: str | None = None
    #: Its message group (a FIFO queue's, or a fair queue's tenant), from its MessageGroupId.
    group: str | None = None


class ProgressBuffer:
    """Coalesces progress reports: the first writes at once, then at most one write per interval."""

    def __init__(self, store: TaskStore, task_id: str, token: str) -> None:
        self.store, self.task_id, self.token = store, task_id, token
        self.pending: Progress | None = None
        self.last_write: float | None = None

    def report(self, progress: Progress, *, immediate: bool = False) -> None:
        """Write ``progress`` if the interval has passed since the last write (or ``immediate``), else keep it."""
        size = len(progress.to_json().encode("utf-8"))
        if size > limits.MAX_PROGRESS_BYTES:
            # Refused to the task, never stored: a report this large would crowd the result out of the item.
            raise EncodeError("progress", f"{size:,} bytes, over the {limits.MAX_PROGRESS_BYTES:,}-byte limit")
        now = clock.now()
        if immediate or self.last_write is None or now - self.last_write >= limits.PROGRESS_MIN_INTERVAL_SECONDS:
            self.store.progress(self.task_id, self.token, progress)
            self.last_write, self.pending = now, None
        else:
            self.pending = progress  # lands with the next write, at the latest the final one


#: Squall's own source directory: its frames lead every task's traceback and are left out of the stored one.
_SQUALL_DIR = str(Path(__file__).resolve().parent.parent) + os.sep


def error_info(exc: BaseException) -> ErrorInfo:
    """An exception as strings: qualified type, message and (the end of) its traceback.

    The traceback starts at the task's own code: the worker's frames above it (the executor, the call, the
    extension chain) say nothing about the failure and would only make the stored item larger.
    """
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename.startswith(_SQUALL_DIR):
        tb = tb.tb_next
    trace = "".join(traceback.format_exception(kind, exc, tb))
    return ErrorInfo(name, str(exc)[: limits.MAX_ERROR_MESSAGE_CHARS], trace[-limits.MAX_TRACEBACK_CHARS :])
