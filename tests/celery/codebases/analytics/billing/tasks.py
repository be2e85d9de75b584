"""Billing tasks: usage reports and the monthly invoice run."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.utils.log import get_task_logger

from ..clickhouse import ClickHouseUnavailable, sync_execute

logger = get_task_logger(__name__)


@shared_task(
    bind=True,
    autoretry_for=(ClickHouseUnavailable,),
    retry_backoff=30,
    retry_jitter=False,
    retry_kwargs={"max_retries": 4},
)
def sync_usage_report(self: Any, period: str) -> dict[str, Any]:
    """Report usage for ``period`` to the billing service."""
    sync_execute(f"SELECT usage {period}")
    return {"period": period, "retries": self.request.retries}


@shared_task(ignore_result=True)
def monthly_invoice_run() -> None:
    """Invoice every customer for last month."""
    logger.info("invoicing")
    sync_execute("SELECT invoices")
