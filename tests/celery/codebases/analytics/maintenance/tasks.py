"""Maintenance tasks: expiry, clean-ups, heartbeats and monitoring."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.utils.log import get_task_logger

from ..clickhouse import sync_execute

logger = get_task_logger(__name__)


@shared_task(ignore_result=True)
def delete_expired_exports() -> None:
    """Delete exported assets past their expiry."""
    sync_execute("DELETE expired exports")


@shared_task(ignore_result=True)
def clean_stale_partials() -> None:
    """Remove partial uploads nobody finished."""
    sync_execute("DELETE stale partials")


@shared_task(ignore_result=True, queue="stats")
def redis_heartbeat() -> None:
    """Tell the monitoring that the workers are alive."""
    sync_execute("SET heartbeat")


@shared_task(ignore_result=True)
def monitoring_check_schema_drift() -> None:
    """Compare the database schema with the expected one."""
    sync_execute("SELECT schema drift")


@shared_task(bind=True, ignore_result=True)
def vacuum_sessions(self: Any) -> None:
    """Vacuum the session recordings table."""
    logger.info("vacuum run %s", self.request.id)
    sync_execute("VACUUM sessions")
