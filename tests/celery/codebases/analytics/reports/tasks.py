"""Report tasks: digests, cohorts, cached insights and exports."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.utils.log import get_task_logger

from ..clickhouse import ClickHouseUnavailable, sync_execute

logger = get_task_logger(__name__)


@shared_task(ignore_result=True)
def send_weekly_digest(audience: str = "all") -> None:
    """Email the digest."""
    logger.info("sending the digest to %s", audience)
    sync_execute("SELECT digest", {"audience": audience})


@shared_task(bind=True, autoretry_for=(ClickHouseUnavailable,), retry_backoff=5, retry_jitter=False, max_retries=3)
def calculate_cohort(self: Any, days: int) -> dict[str, Any]:
    """Recalculate a cohort over the last ``days`` days."""
    rows = sync_execute(f"SELECT cohort {days}d", {"days": days})
    return {"days": days, "rows": rows, "attempts": self.request.retries + 1}


@shared_task(ignore_result=True, queue="analytics-stats")
def refresh_insight_cache() -> None:
    """Refresh the insights whose cache is stale."""
    sync_execute("SELECT stale insights")


@shared_task(bind=True, max_retries=1, default_retry_delay=60)
def export_report(self: Any, kind: str) -> str:
    """Export a report; one retry after a minute if the database is unavailable, then the failure stands."""
    try:
        sync_execute(f"EXPORT {kind}")
    except ClickHouseUnavailable as exc:
        logger.warning("export %s failed (attempt %s)", kind, self.request.retries + 1)
        raise self.retry(exc=exc) from exc
    return f"exported {kind}"
