"""The payload bucket as deployed: its name (the stack's and the local runtime's) and how long objects live.

How long an object lives (each lifecycle rule's expiration) is derived here, once, from the limits that bound
how long anything can still refer to it. S3 counts an object's age from its creation, and a PutObject on an
existing key creates it anew; every send, every retry sent again and every redrive encodes its envelope again,
so it writes its arguments again and their age starts over. From that last write:

- ``args/`` (due within SQS's longest delay, 15 minutes): the delay, then at most SQS's maximum retention (14
  days) in the task queue and the intake queue together (a message keeps its first enqueue time when SQS's
  redrive policy moves it), then the DLQ's retention (14 days: the worker and the reconciler send a new
  message there) until ``squall dlq redrive`` writes it again. 15 min + 28 days: **29 days**.
- ``args-delayed/`` (due later, through EventBridge Scheduler): the longest eta (2 x 366 days), then the
  Scheduler's retries (events up to 24 hours old), then the same 28 days queued. **761 days**.
- ``results/``: the longest ``result_ttl`` of the app's tasks (the signed replay window, 4 days, at least when
  the app signs); a result is written once, when its task finishes, and read only while its record lives.

Nothing deletes an object sooner: a finished task's copies may still be delivered (SQS delivers at least
once), and a DEAD task's arguments must be there for its redrive.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING

from squall import config, limits

if TYPE_CHECKING:
    from squall.protocols import App

#: What the bucket's name prefix ends with: ``squall-<app>[-<stage>]-payloads``.
_SUFFIX = "-payloads"
#: Characters S3 appends in the account regional namespace: -<account id>-<region>-an.
_NAMESPACE_CHARS = (
    2 + limits.AWS_ACCOUNT_ID_CHARS + limits.AWS_MAX_REGION_CODE_CHARS + len(limits.S3_ACCOUNT_REGIONAL_SUFFIX)
)
_DAY_SECONDS = 86_400
#: Seconds a message may still be read once it is due: in its task queue and then the intake queue (whose
#: retention, SQS's maximum, counts from the first enqueue), then in its dead-letter queue until a redrive
#: sends it again.
_QUEUED_SECONDS = limits.SQS_MAX_RETENTION_SECONDS + limits.DLQ_RETENTION_SECONDS


def arguments_lifetime_seconds(wait_seconds: int) -> int:
    """Seconds an argument object may still be read after it was last written, for a message that reaches its
    queue at most ``wait_seconds`` after that write: the wait, then the time queued. Every send, retry and
    redrive of a task writes its arguments again (a new object, whose age starts over)."""
    return wait_seconds + _QUEUED_SECONDS


#: ``args/``: messages due within SQS's longest delay (15 minutes): 28 days and 15 minutes.
ARGUMENTS_LIFETIME_SECONDS = arguments_lifetime_seconds(limits.SQS_MAX_DELAY_SECONDS)
#: ``args-delayed/``: messages due later, up to MAX_ETA_AHEAD_SECONDS ahead, which EventBridge Scheduler may
#: deliver until its events are SCHEDULER_EVENT_AGE_SECONDS old (it retries a failing SendMessage that long).
DELAYED_ARGUMENTS_LIFETIME_SECONDS = arguments_lifetime_seconds(
    limits.MAX_ETA_AHEAD_SECONDS + limits.SCHEDULER_EVENT_AGE_SECONDS
)


def name_prefix(app: str, stage: str | None = None) -> str:
    """The bucket's name before S3's account regional suffix; a short hashed form when the long one cannot fit."""
    prefix = config.resource_prefix(app, stage) + _SUFFIX
    if len(prefix) + _NAMESPACE_CHARS <= limits.S3_MAX_BUCKET_NAME_CHARS:
        return prefix
    return "squall-" + hashlib.sha256(config.deployment_name(app, stage).encode()).hexdigest()[:12] + _SUFFIX


def bucket_name(app: str, stage: str | None, account: str, region: str) -> str:
    """The bucket's name in ``account`` and ``region``, as S3 composes it in the account regional namespace."""
    return f"{name_prefix(app, stage)}-{account}-{region}{limits.S3_ACCOUNT_REGIONAL_SUFFIX}"


def results_lifetime_seconds(app: App) -> int:
    """Seconds a result object may still be read: the longest result TTL of the app's tasks (the signed replay
    window when the app signs, which the worker keeps records for at least)."""
    ttls = [task.options.result_ttl for task in app.tasks.values()]
    floor = limits.SIGNED_ENVELOPE_MAX_AGE_SECONDS if app.signer is not None else 0
    return max([limits.DEFAULT_RESULT_TTL_SECONDS, floor, *ttls])


def expiration_days(seconds: int) -> int:
    """Whole days for a lifecycle rule that expires an object no sooner than ``seconds`` after it was written.

    S3 counts from the object's creation, rounded up to the next midnight UTC, so one more day is never needed.
    """
    return math.ceil(seconds / _DAY_SECONDS)
