"""What a FIFO queue (``Queue("ledger", fifo=True)``) may be declared with, and how its resources are named.

SQS: a FIFO queue's name ends in ``.fifo`` (counted in the 80-character limit), and so does its DLQ's, which
must be FIFO too (SQS Developer Guide, "Amazon SQS FIFO queues", "Using dead-letter queues"). Lambda: a FIFO
event source takes a batch of at most 10 and no batching window ("Lambda parameters for Amazon SQS event
source mappings").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from squall import limits
from squall.errors import TaskDefinitionError

#: The name suffix SQS requires of a FIFO queue (counted in SQS_MAX_QUEUE_NAME_CHARS).
FIFO_SUFFIX = ".fifo"
Schedules = TypeVar("Schedules", bound=Sequence[Any])

#: SQS CreateQueue attributes every FIFO queue and DLQ carries: the task id is each message's deduplication
#: id, so deduplication by content is off (two calls with equal arguments are two tasks).
FIFO_ATTRIBUTES = {"FifoQueue": "true", "ContentBasedDeduplication": "false"}


def problem(fifo: bool, lanes: tuple[str, ...], batch_size: int, batching_window: int) -> str | None:
    """Why a queue with these settings cannot be FIFO, or None (always None for a standard queue)."""
    if not fifo:
        return None
    if lanes:
        return (
            "a FIFO queue cannot have lanes (one queue per lane would split a message group's order); "
            "declare separate FIFO queues instead"
        )
    if batch_size > limits.ESM_MAX_BATCH_SIZE_WITHOUT_WINDOW or batching_window:
        return (
            f"a FIFO queue's event source takes a batch_size of at most {limits.ESM_MAX_BATCH_SIZE_WITHOUT_WINDOW} "
            "and no batching_window (Lambda's rules for FIFO queues)"
        )
    return None


def check(name: str, fifo: bool, lanes: tuple[str, ...], batch_size: int, batching_window: int) -> None:
    """TaskDefinitionError naming queue ``name`` if these settings cannot be FIFO (see :func:`problem`)."""
    found = problem(fifo, lanes, batch_size, batching_window)
    if found is not None:
        raise TaskDefinitionError(f"queue {name!r}: {found}")


def named(name: str, fifo: bool) -> str:
    """A queue's physical name: ``name``, with the ``.fifo`` suffix for a FIFO queue."""
    return name + FIFO_SUFFIX if fifo else name


def attributes(fifo: bool) -> dict[str, str]:
    """The FIFO CreateQueue attributes of a FIFO queue or DLQ; none for a standard one."""
    return dict(FIFO_ATTRIBUTES) if fifo else {}


def is_fifo(url: str) -> bool:
    """Whether the queue at ``url`` (or ARN) is FIFO: SQS requires the suffix of every FIFO queue's name."""
    return url.endswith(FIFO_SUFFIX)


def send_fields(url: str, group: str, deduplication: str) -> dict[str, str]:
    """SendMessage's MessageGroupId and MessageDeduplicationId (128 characters at most, as SQS allows) for a
    message to the queue at ``url`` if it is FIFO; nothing for a standard queue."""
    if not url.endswith(FIFO_SUFFIX):
        return {}
    most = limits.SQS_MAX_MESSAGE_GROUP_ID_CHARS
    return {"MessageGroupId": group[:most], "MessageDeduplicationId": deduplication[:most]}


def checked_schedules(queues: Mapping[str, Any], schedules: Schedules) -> Schedules:
    """``schedules`` (periodic ScheduleResources), or TaskDefinitionError for one that targets a FIFO queue:
    EventBridge Scheduler sends to a FIFO queue only with content-based deduplication on (API reference,
    "SqsParameters"), which would merge equal firings' bodies; here the task id deduplicates."""
    for schedule in schedules:
        if getattr(queues.get(schedule.queue), "fifo", False):
            raise TaskDefinitionError(
                f"periodic {schedule.periodic_name!r} targets FIFO queue {schedule.queue!r}, which EventBridge "
                "Scheduler cannot send to without content-based deduplication; schedule a task on a standard "
                "queue that sends to the FIFO one"
            )
    return schedules
