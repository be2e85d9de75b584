"""Task states and which of them are final."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a task stands. Stored and compared as its plain string value."""

    PENDING = "PENDING"  # enqueued, not yet claimed by a worker (or unknown id, as in Celery)
    STARTED = "STARTED"  # claimed by an attempt that holds a lease
    SUCCESS = "SUCCESS"  # finished; the result is stored unless ignore_result
    FAILURE = "FAILURE"  # an attempt raised; recorded in history, immediately followed by RETRY or DEAD
    RETRY = "RETRY"  # waiting for its next attempt
    DEAD = "DEAD"  # retries exhausted or message unusable; its message is in the dead-letter queue
    REVOKED = "REVOKED"  # cancelled before it started; acknowledged without running


#: States a task never leaves on its own (only redrive brings a DEAD task back).
FINAL_STATES = frozenset({State.SUCCESS, State.DEAD, State.REVOKED})
#: States from which a delivery may claim the task and run it.
CLAIMABLE_STATES = frozenset({State.PENDING, State.RETRY})
