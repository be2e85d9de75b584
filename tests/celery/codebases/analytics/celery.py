"""The product's Celery app (PostHog's ``posthog/celery.py``): settings from the Django settings module under the
``CELERY`` namespace, tasks found in each Django app, periodic tasks added once the app is configured, and
task metrics from Celery's signals."""

from __future__ import annotations

import time
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun

app = Celery("analytics")

# Using a string here means the worker doesn't have to serialize the configuration object to child processes.
# - namespace='CELERY' means all celery-related configuration keys should have a `CELERY_` prefix.
app.config_from_object("tests.celery.codebases.analytics.settings", namespace="CELERY")

# Load task modules from all registered Django app configs.
app.autodiscover_tasks(
    [
        "tests.celery.codebases.analytics.api",
        "tests.celery.codebases.analytics.ingestion",
        "tests.celery.codebases.analytics.reports",
        "tests.celery.codebases.analytics.billing",
        "tests.celery.codebases.analytics.maintenance",
    ]
)

#: Task id -> when it started; and (task id, task name, final state) of every run, as the metrics exporter reads them.
TASK_STARTED_AT: dict[str, float] = {}
TASK_RUNS: list[tuple[str, str, str | None]] = []


@app.on_after_configure.connect
def setup_periodic_tasks(sender: Celery, **kwargs: Any) -> None:
    """Periodic tasks that need code to declare (PostHog's ``setup_periodic_tasks``)."""
    from .scheduled import setup_periodic_tasks as setup

    setup(sender)


@task_prerun.connect
def prerun_signal_handler(task_id: str, task: Any, **kwargs: Any) -> None:
    """Note when a task started."""
    TASK_STARTED_AT[task_id] = time.monotonic()


@task_postrun.connect
def postrun_signal_handler(task_id: str, task: Any, **kwargs: Any) -> None:
    """Record a finished run and its state."""
    TASK_STARTED_AT.pop(task_id, None)
    TASK_RUNS.append((task_id, task.name, kwargs.get("state")))
