"""The product's settings (a Django settings module's stand-in): Celery reads the ``CELERY_`` names."""

from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab, schedule

DEBUG = False
SECRET_KEY = "not-a-secret"
TIME_ZONE = "Europe/Berlin"
INSTALLED_APPS = [
    "tests.celery.codebases.analytics.api",
    "tests.celery.codebases.analytics.ingestion",
    "tests.celery.codebases.analytics.reports",
    "tests.celery.codebases.analytics.billing",
    "tests.celery.codebases.analytics.maintenance",
]

CELERY_BROKER_URL = "redis://localhost:6379/2"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "analytics-default"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = timedelta(days=2)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

_MAINTENANCE = "tests.celery.codebases.analytics.maintenance.tasks"
_INGESTION = "tests.celery.codebases.analytics.ingestion.tasks"
_REPORTS = "tests.celery.codebases.analytics.reports.tasks"
_BILLING = "tests.celery.codebases.analytics.billing.tasks"

CELERY_BEAT_SCHEDULE = {
    "delete-expired-exports": {
        "task": f"{_MAINTENANCE}.delete_expired_exports",
        "schedule": crontab(hour=0, minute=0),
    },
    "flush-ingestion-buffer": {
        "task": f"{_INGESTION}.flush_ingestion_buffer",
        "schedule": timedelta(minutes=5),
    },
    "redis-heartbeat": {
        "task": f"{_MAINTENANCE}.redis_heartbeat",
        "schedule": 60.0,
        "options": {"queue": "stats", "expires": 60},
    },
    "refresh-insight-cache": {
        "task": f"{_REPORTS}.refresh_insight_cache",
        "schedule": crontab(minute="*/15"),
    },
    "morning-standup-digest": {
        "task": f"{_REPORTS}.send_weekly_digest",
        "schedule": crontab(day_of_week="mon-fri", hour=9, minute=30),
        "kwargs": {"audience": "team"},
    },
    "monthly-invoice-run": {
        "task": f"{_BILLING}.monthly_invoice_run",
        "schedule": crontab(day_of_month=1, hour=2, minute=0),
    },
    "sync-usage-report": {
        "task": f"{_BILLING}.sync_usage_report",
        "schedule": crontab(hour="*/6", minute=10),
        "args": ("daily",),
    },
    "clean-stale-partials": {
        "task": f"{_MAINTENANCE}.clean_stale_partials",
        "schedule": crontab(minute=0, hour="3,15"),
    },
    "recompute-person-properties": {
        "task": f"{_INGESTION}.recompute_person_properties",
        "schedule": timedelta(hours=1),
        "kwargs": {"limit": 500},
    },
    "monitoring-check-schema-drift": {
        "task": f"{_MAINTENANCE}.monitoring_check_schema_drift",
        "schedule": 600,
    },
    "calculate-cohorts-office-hours": {
        "task": f"{_REPORTS}.calculate_cohort",
        "schedule": crontab(minute="*/30", hour="8-18", day_of_week="mon-fri"),
        "args": (7,),
    },
    "vacuum-sessions": {
        "task": f"{_MAINTENANCE}.vacuum_sessions",
        "schedule": crontab(hour=4, minute=45, day_of_week="sun"),
    },
    "quarterly-report": {
        "task": f"{_REPORTS}.export_report",
        "schedule": crontab(0, 0, day_of_month="1", month_of_year="*/3"),
        "args": ("quarterly",),
    },
    "process-late-batches": {
        "task": f"{_INGESTION}.process_event_batch",
        "schedule": schedule(run_every=timedelta(minutes=2)),
        "args": ("late", []),
    },
}
