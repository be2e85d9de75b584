"""Putting a message back on its queue as a new message, now or later.

The worker uses a new message where keeping the received one would let SQS decide instead of Squall: a
retry, and a message kept on its last receive or for longer than its retention or SQS's 12-hour in-flight
cap allows. A new message starts with receive count 1 and a fresh retention clock, costs the same one
request as a ChangeMessageVisibility, and may wait any length of time:

* up to 900 s: SendMessage with ``DelaySeconds``;
* longer: a one-time EventBridge Scheduler ``at()`` schedule carrying the body (the path long delays take),
  named ``r-<sha256 of its key>`` so that a retried call makes the same schedule once;
* longer, for a body over the Scheduler's input limit (or an app deployed without a schedule group):
  SendMessage with the longest delay; the envelope's ``eta`` makes the worker hold it again until it is due.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from squall import clock, limits
from squall.scheduler.scheduling import flexible_window, target
from squall.sending.delays import at_expression

if TYPE_CHECKING:
    from squall.protocols import App

#: Prefix of the one-time schedules the worker makes (``t.`` / ``t-`` are the producer's long delays).
RESEND_PREFIX = "r-"


def resend_name(key: str) -> str:
    """The one-time schedule name for re-send ``key`` (64 characters at most, as the Scheduler allows)."""
    return RESEND_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:48]


def send_again(
    app: App,
    *,
    queue: str,
    body: str,
    delay: float,
    key: str,
    attributes: Mapping[str, Any] | None = None,
    group: Mapping[str, str] | None = None,
) -> None:
    """Send ``body`` to logical ``queue`` as a new message that becomes visible ``delay`` seconds from now.

    ``key`` names this re-send (the task id and what it is for): a repeated call with the same key makes at
    most one schedule. ``attributes`` (SendMessage's shape) travel with an SQS message; a schedule cannot
    carry message attributes, so they are dropped on that path. ``group`` is SendMessage's ``MessageGroupId``
    (a fair queue's tenant), kept on the SQS path. AWS errors propagate.
    """
    settings = app.settings
    wait = max(0.0, delay)
    scheduler = bool(settings.schedule_group and settings.scheduler_role_arn)
    fits_scheduler = len(body.encode("utf-8")) <= limits.SCHEDULER_MAX_INPUT_BYTES
    if wait <= limits.SQS_MAX_DELAY_SECONDS or not (scheduler and fits_scheduler):
        request: dict[str, Any] = {
            "QueueUrl": settings.queue(queue).url,
            "MessageBody": body,
            "DelaySeconds": min(limits.SQS_MAX_DELAY_SECONDS, math.ceil(wait)),
        }
        if attributes:
            request["MessageAttributes"] = dict(attributes)
        if group:
            request.update(group)
        app.sqs.send_message(**request)
        return
    try:
        app.scheduler.create_schedule(
            Name=resend_name(key),
            GroupName=settings.schedule_group,
            ScheduleExpression=at_expression(clock.now() + wait),
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow=flexible_window(None),  # type: ignore[arg-type]
            ActionAfterCompletion="DELETE",
            Description=f"Squall re-send {key}"[:512],
            Target=target(settings, queue, body),  # type: ignore[arg-type]
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConflictException":
            raise
        # Made by an earlier try of this same re-send (the key names it): nothing more to do.
