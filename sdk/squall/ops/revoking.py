"""Revoking a task (``app.revoke``): mark it REVOKED, stop the workflow it belongs to, delete its schedule.

A task sent with a delay of 900 s or less sits in SQS; revoking marks it REVOKED and the worker, when the message
arrives, acknowledges it unrun and stops its workflow (:meth:`squall.worker.workflows.Workflows.again`). A task
delayed longer waits in a one-time schedule, and once the schedule is deleted no message ever arrives: so the
revoke does the worker's part itself, in this order:

1. read the schedule's body (GetSchedule), the one place the task's workflow options are kept;
2. mark the task REVOKED (a conditional write: a task that started or finished is left as it is);
3. if it is now REVOKED and belongs to a workflow, stop the workflow as a revoked step does: its chain's later
   steps DEAD with a reason naming it, its chord member counted (the body sent if it was the last, and DEAD
   naming it), no error callbacks;
4. delete the schedule.

Each step is idempotent, and the schedule goes last, so a revoke that raised (SQS or DynamoDB unreachable) is
finished by calling it again: the second call still finds the body. A schedule that fires between 2 and 4 finds
the task REVOKED, and the worker stops the workflow the same way. A body that cannot be read (a forged
signature, a codec since removed) would have been dead-lettered by the worker: the schedule is deleted and the
workflow left as it is, with a warning; keys that cannot be read raise, leaving the schedule for the next try.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from squall.errors import DecodeError
from squall.sending.delays import RevokeOutcome, delete_delay, mark_revoked, scheduled_body
from squall.wire.bodies import chain_for
from squall.wire.envelope import Envelope
from squall.worker.workflows import Workflows

if TYPE_CHECKING:
    from squall.protocols import App

logger = logging.getLogger("squall.ops.revoking")

#: Why a workflow's revoked step stopped it (the worker says the same of a REVOKED step it receives).
REVOKED = "it was revoked"


def revoke(app: App, task_id: str) -> RevokeOutcome:
    """Cancel a task that has not started, and the rest of its workflow (see the module docstring)."""
    body = scheduled_body(app, task_id)
    outcome = mark_revoked(app, task_id)
    if body is not None and outcome in (RevokeOutcome.REVOKED, RevokeOutcome.UNKNOWN):
        _stop_workflow(app, task_id, body)
    delete_delay(app, task_id)
    return outcome


def _stop_workflow(app: App, task_id: str, body: str) -> None:
    try:
        envelope = Envelope.decode(chain_for(app).decode(body))
    except DecodeError as exc:
        logger.warning(
            "revoked %s: its schedule's body cannot be read, so its workflow (if any) goes on: %s", task_id, exc
        )
        return
    if envelope.id == task_id:
        Workflows(app).dead(envelope, REVOKED, errbacks=False)
