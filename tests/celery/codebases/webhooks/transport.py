"""Webhook delivery tasks (in the style of Saleor's ``send_webhook_request_async``).

A delivery is POSTed to its URL; a failed request is retried with exponential backoff (``retry_backoff *
2**retries`` seconds), and once the retries are spent the delivery is marked failed. Events fan out to every
subscribed URL with a ``group``.
"""

from __future__ import annotations

from typing import Any

import requests
from celery import group
from celery.exceptions import MaxRetriesExceededError
from celery.signals import task_retry
from celery.utils.log import get_task_logger

from .celeryconf import APP_WEBHOOK_CELERY_QUEUE_NAME, WEBHOOK_CELERY_QUEUE_NAME, app
from .models import DELIVERIES, FAILED, SUCCESS, EventDelivery, create_attempt, create_event_delivery

task_logger = get_task_logger(__name__)

WEBHOOK_TIMEOUT = 10
#: Every retry Celery announced: (task name, retries so far, the countdown asked for).
RETRIES: list[tuple[str, int, Any]] = []


@task_retry.connect
def record_retry(sender: Any = None, request: Any = None, reason: Any = None, **kwargs: Any) -> None:
    """Count retries per task, as the platform's metrics do."""
    RETRIES.append((sender.name, request.retries, reason.when))


def send_webhook_using_http(url: str, payload: dict[str, Any]) -> requests.Response:
    """POST the payload; an HTTP error status raises."""
    response = requests.post(url, json=payload, timeout=WEBHOOK_TIMEOUT, headers={"X-Event": "order_created"})
    response.raise_for_status()
    return response


def handle_webhook_retry(task: Any, delivery: EventDelivery) -> bool:
    """Ask for a retry with backoff; False once the retries are spent (Saleor's helper calls retry without raise)."""
    countdown = task.retry_backoff * (2**task.request.retries)
    try:
        task.retry(countdown=countdown, max_retries=task.retry_kwargs["max_retries"])
    except MaxRetriesExceededError as exc:
        delivery.failure = str(exc)
        return False
    return True  # not reached in a worker: retry() raises Retry


@app.task(queue=WEBHOOK_CELERY_QUEUE_NAME, bind=True, retry_backoff=10, retry_kwargs={"max_retries": 5})
def send_webhook_request_async(self: Any, event_delivery_id: str) -> str:
    """Deliver one event; retried while the endpoint fails (the task's default ``max_retries``, 3)."""
    delivery = DELIVERIES[event_delivery_id]
    attempt = create_attempt(delivery, self.request.id, self.request.retries)
    try:
        send_webhook_using_http(delivery.url, delivery.payload)
    except requests.RequestException as exc:
        attempt.status, attempt.response = FAILED, str(exc)
        try:
            raise self.retry(countdown=self.retry_backoff * (2**self.request.retries))
        except MaxRetriesExceededError as spent:
            delivery.status, delivery.failure = FAILED, str(spent)
            task_logger.warning("[Webhook] Failed request to %s after %s retries", delivery.url, self.request.retries)
            return delivery.status
    attempt.status = delivery.status = SUCCESS
    return delivery.status


@app.task(bind=True, retry_backoff=10, retry_kwargs={"max_retries": 5})
def deliver_app_webhook(self: Any, event_delivery_id: str) -> str:
    """Deliver one event to an app; routed by ``task_routes`` (``deliver_*``), retried up to ``retry_kwargs``."""
    delivery = DELIVERIES[event_delivery_id]
    attempt = create_attempt(delivery, self.request.id, self.request.retries)
    try:
        send_webhook_using_http(delivery.url, delivery.payload)
    except requests.RequestException as exc:
        attempt.status, attempt.response = FAILED, str(exc)
        if not handle_webhook_retry(self, delivery):
            delivery.status = FAILED
            return delivery.status
    attempt.status = delivery.status = SUCCESS
    return delivery.status


@app.task(
    bind=True,
    autoretry_for=(requests.RequestException,),
    retry_backoff=10,
    retry_jitter=False,
    retry_kwargs={"max_retries": 5},
)
def send_observability_events(self: Any, url: str, events: list[dict[str, Any]]) -> int:
    """Send a batch of observability events; errors retry by ``autoretry_for``, then the task fails."""
    task_logger.info("sending %s events, attempt %s", len(events), self.request.retries + 1)
    send_webhook_using_http(url, {"events": events})
    return len(events)


def trigger_webhooks_async(payload: dict[str, Any], urls: list[str]) -> Any:
    """Create a delivery per URL and send them all at once; the group's result lists each one's outcome."""
    deliveries = [create_event_delivery(url, payload) for url in urls]
    return group(send_webhook_request_async.s(delivery.id) for delivery in deliveries).apply_async()


def trigger_app_webhook(payload: dict[str, Any], url: str) -> Any:
    """One delivery to an app, on the app queue named at call time (Saleor passes its queue so)."""
    delivery = create_event_delivery(url, payload)
    return deliver_app_webhook.apply_async(
        kwargs={"event_delivery_id": delivery.id}, queue=APP_WEBHOOK_CELERY_QUEUE_NAME
    )
