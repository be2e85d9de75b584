"""The worker's CloudWatch metric names, apart from the Lambda adapter that publishes them.

:mod:`squall.handler` publishes these through Powertools Metrics; the stack's dashboard and the cost
model read them from here, so neither needs Powertools to know what the worker counts.
"""

from __future__ import annotations

from squall.worker.delivery import Outcome
from squall.worker.reconciler import Reconciled

__all__ = ["ERROR_METRIC", "METRICS_NAMESPACE", "OUTCOME_METRICS", "RECONCILED_METRICS", "SERVICE_DIMENSION"]

#: CloudWatch namespace of the worker's metrics (the stack's dashboard and alarms read these).
METRICS_NAMESPACE = "Squall"
#: The dimension Powertools Metrics adds for its service: the worker sets it to the deployment's name
#: (``<app>`` or ``<app>-<stage>``, squall.handler), which the stack's dashboard and alarms and ``squall ui`` read.
SERVICE_DIMENSION = "service"
#: Metric name for each outcome, counted per record.
OUTCOME_METRICS = {
    Outcome.SUCCEEDED: "TaskSucceeded",
    Outcome.DUPLICATE: "TaskDuplicate",
    Outcome.DEAD: "TaskDead",
    Outcome.LEASE_LOST: "TaskLeaseLost",
    Outcome.RETRYING: "TaskRetried",
    Outcome.RETRY_KEPT: "TaskRetried",
    Outcome.BUSY: "TaskBusy",
    Outcome.EARLY: "TaskEarly",
    Outcome.DEFERRED: "TaskDeferred",
    Outcome.HELD: "TaskHeld",
    Outcome.KEYS_UNAVAILABLE: "SigningKeysUnavailable",
    Outcome.RESENT: "TaskResent",
    Outcome.EXPIRED: "TaskExpired",
    Outcome.UNTRACKED_DONE: "UntrackedTaskSucceeded",
}
#: Metric name for each reconciler outcome (what SQS's redrive policy moved).
RECONCILED_METRICS = {
    Reconciled.DEAD: "MovedTaskDead",
    Reconciled.LEFTOVER: "MovedLeftover",
    Reconciled.RUNNING: "MovedWhileRunning",
}
#: Metric counting records whose processing raised (an AWS error): their messages stay on the queue.
ERROR_METRIC = "TaskErrored"
