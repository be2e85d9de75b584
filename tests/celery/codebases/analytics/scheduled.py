"""Periodic tasks added in code once the app is configured (PostHog's ``posthog/tasks/scheduled.py``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import crontab

from .billing.tasks import sync_usage_report
from .ingestion.tasks import recompute_person_properties
from .maintenance.tasks import monitoring_check_schema_drift, vacuum_sessions
from .reports.tasks import calculate_cohort, send_weekly_digest


def add_periodic_task_with_expiry(sender: Celery, schedule_seconds: int, task_signature: Any, name: str) -> None:
    """A periodic task whose run expires when the next is due (so runs never pile up)."""
    sender.add_periodic_task(schedule_seconds, task_signature, name=name, expires=schedule_seconds)


def setup_periodic_tasks(sender: Celery, **kwargs: Any) -> None:
    """Add the product's periodic tasks to ``sender``."""
    add_periodic_task_with_expiry(sender, 300, monitoring_check_schema_drift.s(), "check clickhouse schema drift")
    sender.add_periodic_task(
        crontab(hour="4", minute="0"), recompute_person_properties.s(limit=10_000), name="verify persons data in sync"
    )
    sender.add_periodic_task(
        crontab(day_of_week="mon,fri", hour="0", minute="0"), send_weekly_digest.s(), name="send weekly digest"
    )
    sender.add_periodic_task(timedelta(minutes=20), sync_usage_report.s("hourly"), name="sync usage every 20 minutes")
    sender.add_periodic_task(
        crontab(minute="0", hour="*"), calculate_cohort.s(30), name="hourly: recalculate cohorts (all teams)"
    )
    sender.add_periodic_task(
        crontab(minute="15", hour="1", day_of_month="*/7"), vacuum_sessions.s(), name="weekly-ish vacuum"
    )
