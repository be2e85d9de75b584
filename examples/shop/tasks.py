"""An online shop's background work, as Squall tasks: the app the stack deploys by default.

Run it locally with ``./run demo``; deploy it with ``squall deploy --app examples.shop.tasks:app --code examples``
(see docs/deploy.md).
"""

from __future__ import annotations

from squall import Queue, Squall, TaskContext

app = Squall("shop", queues=[Queue("default"), Queue("reports", batch_size=5, max_concurrency=5)])


class CardDeclined(Exception):
    """The payment provider refused the card; retrying will not help."""


class GatewayBusy(Exception):
    """The payment provider asked us to come back later."""


@app.task(max_retries=5, retry_backoff=2, retry_backoff_max=600, dont_autoretry_for=(CardDeclined,))
def charge(order_id: str, amount: int) -> dict[str, object]:
    """Charge an order; declined cards are not retried."""
    if amount <= 0:
        raise CardDeclined(f"order {order_id}: amount {amount} cannot be charged")
    return {"order_id": order_id, "charged": amount, "currency": "EUR"}


@app.task(bind=True, queue="reports")
def build_report(task: TaskContext, month: str) -> str:
    """Aggregate a month of orders, reporting progress as it goes."""
    for step, stage in enumerate(("loading", "aggregating", "rendering"), start=1):
        task.progress(round(step * 100 / 3), stage)
    return f"report-{month}.pdf"


@app.task(bind=True, max_retries=4, retry_backoff=5)
def sync_inventory(task: TaskContext, sku: str, fail_times: int = 2) -> str:
    """Push stock levels to the warehouse, whose API is flaky: fails ``fail_times`` times first."""
    if task.request.attempt <= fail_times:
        raise GatewayBusy(f"warehouse busy on attempt {task.request.attempt}")
    return f"{sku} synced on attempt {task.request.attempt}"


@app.task(max_retries=2, retry_backoff=1)
def import_feed(url: str) -> int:
    """Import a supplier feed; this one is always broken."""
    raise ValueError(f"feed {url} is not valid CSV")


@app.task(ignore_result=True)
def send_receipt(order_id: str, email: str) -> None:
    """Email a receipt (no result kept)."""
