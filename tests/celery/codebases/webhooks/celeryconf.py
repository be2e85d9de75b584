"""The platform's Celery app (Saleor's ``celeryconf.py``): queues by name, routes by task name."""

from __future__ import annotations

import os

from celery import Celery

WEBHOOK_CELERY_QUEUE_NAME = os.environ.get("WEBHOOK_CELERY_QUEUE_NAME", "webhooks")
OBSERVABILITY_CELERY_QUEUE_NAME = "observability"
APP_WEBHOOK_CELERY_QUEUE_NAME = "app-webhooks"

app = Celery(
    "saleor",
    broker=os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/1"),
    include=["tests.celery.codebases.webhooks.transport"],  # what the worker imports: the tasks
)
app.conf.update(
    task_default_queue="default",
    task_routes={
        # By exact name, and by pattern (Celery's glob routes).
        "tests.celery.codebases.webhooks.transport.send_observability_events": {
            "queue": OBSERVABILITY_CELERY_QUEUE_NAME
        },
        "tests.celery.codebases.webhooks.transport.deliver_*": {"queue": APP_WEBHOOK_CELERY_QUEUE_NAME},
    },
    task_acks_late=True,
    worker_prefetch_multiplier=1,
)
