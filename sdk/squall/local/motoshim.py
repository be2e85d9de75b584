"""Every use of moto's internals, in one place (moto is pinned; re-check these on upgrade).

moto's SQS reads the time through ``unix_time``/``unix_time_millis`` imported into ``moto.sqs.models``;
pointing them at Squall's clock lets the local runtime fast-forward delays and visibility timeouts.
Peeking at a queue's messages (when the next one becomes visible, what a DLQ holds) reads the backend
directly, so that looking never changes receive counts or visibility.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from squall import clock

#: The account moto uses unless told otherwise.
ACCOUNT_ID = "123456789012"


@contextmanager
def sqs_follows_squall_clock() -> Iterator[None]:
    """Make moto's SQS read the time from :func:`squall.clock.now` for the duration of the block."""
    from moto.sqs import models

    saved = models.unix_time, models.unix_time_millis  # type: ignore[attr-defined]

    def unix_time(dt: Any = None) -> float:
        return clock.now() if dt is None else float(saved[0](dt))

    def unix_time_millis(dt: Any = None) -> float:
        return clock.now() * 1000.0 if dt is None else float(saved[1](dt))

    models.unix_time, models.unix_time_millis = unix_time, unix_time_millis  # type: ignore[attr-defined]
    try:
        yield
    finally:
        models.unix_time, models.unix_time_millis = saved  # type: ignore[attr-defined]


@contextmanager
def scheduler_follows_squall_clock() -> Iterator[None]:
    """Make moto's EventBridge Scheduler stamp CreationDate and check StartDate on Squall's clock.

    ``moto.scheduler.models`` imports ``unix_time`` (creation and modification dates) and ``utcnow``
    (StartDate "no earlier than 5 minutes ago") from ``moto.core.utils``; the local scheduler anchors rate
    schedules on CreationDate, so it must be fake-clock time.
    """
    from datetime import UTC, datetime

    from moto.scheduler import models

    saved = models.unix_time, models.utcnow  # type: ignore[attr-defined]

    def unix_time(dt: Any = None) -> float:
        return clock.now() if dt is None else float(saved[0](dt))

    def utcnow() -> datetime:
        return datetime.fromtimestamp(clock.now(), UTC).replace(tzinfo=None)  # moto compares naive UTC

    models.unix_time, models.utcnow = unix_time, utcnow  # type: ignore[attr-defined]
    try:
        yield
    finally:
        models.unix_time, models.utcnow = saved  # type: ignore[attr-defined]


def _queue(region: str, name: str) -> Any:
    from moto.sqs.models import sqs_backends

    return sqs_backends[ACCOUNT_ID][region].queues[name]


def next_visible_at(region: str, queue_name: str) -> float | None:
    """Epoch seconds when the earliest hidden message (delayed or in flight) becomes visible."""
    times = []
    for message in list(_queue(region, queue_name)._messages):
        if message.delayed or not message.visible:
            times.append(max(message.visible_at, message.delayed_until) / 1000.0)
    return min(times, default=None)


def message_count(region: str, queue_name: str) -> int:
    """Messages held by the queue in any state (visible, delayed or in flight)."""
    return len(_queue(region, queue_name)._messages)


@dataclass(frozen=True, slots=True)
class PeekedMessage:
    """A message as it sits in a queue: id, body, string attributes and receive count."""

    message_id: str
    body: str
    attributes: dict[str, str]
    receive_count: int


def peek(region: str, queue_name: str) -> list[PeekedMessage]:
    """Every message in the queue, without receiving it."""
    out = []
    for message in list(_queue(region, queue_name)._messages):
        attributes = {
            name: str(value.get("string_value", value.get("StringValue", "")))
            for name, value in (message.message_attributes or {}).items()
        }
        out.append(PeekedMessage(message.id, message.body, attributes, message.approximate_receive_count))
    return out
