"""Ingestion tasks: event batches into the database, with retries while it is unavailable."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.utils.log import get_task_logger

from ..clickhouse import ClickHouseUnavailable, sync_execute

logger = get_task_logger(__name__)


@shared_task(ignore_result=True)
def flush_ingestion_buffer() -> None:
    """Write the buffered events."""
    sync_execute("INSERT INTO events SELECT * FROM events_buffer")


@shared_task(bind=True, autoretry_for=(ClickHouseUnavailable,), max_retries=2)
def process_event_batch(self: Any, batch_id: str, events: list[dict[str, Any]]) -> int:
    """Insert one batch; retried (after ``default_retry_delay``) while the database is unavailable."""
    logger.info("processing batch %s, attempt %s", batch_id, self.request.retries + 1)
    sync_execute(f"INSERT batch {batch_id}", {str(i): e for i, e in enumerate(events)})
    return len(events)


@shared_task(ignore_result=True, queue="ingestion")
def recompute_person_properties(limit: int = 100) -> None:
    """Recompute the properties of up to ``limit`` persons."""
    sync_execute("ALTER TABLE person UPDATE properties", {"limit": limit})
