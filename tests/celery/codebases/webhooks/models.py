"""Deliveries and their attempts (Saleor's ``EventDelivery`` and ``EventDeliveryAttempt`` rows, kept in memory)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

PENDING, SUCCESS, FAILED = "pending", "success", "failed"


@dataclass
class EventDeliveryAttempt:
    """One HTTP request of a delivery."""

    task_id: str | None
    retries: int
    status: str = PENDING
    response: str = ""


@dataclass
class EventDelivery:
    """One event to deliver to one webhook URL."""

    id: str
    url: str
    payload: dict[str, Any]
    status: str = PENDING
    attempts: list[EventDeliveryAttempt] = field(default_factory=list)
    #: What the failure branch saw when the retries were spent (the MaxRetriesExceededError, as text).
    failure: str | None = None


DELIVERIES: dict[str, EventDelivery] = {}
_ids = itertools.count(1)


def create_event_delivery(url: str, payload: dict[str, Any]) -> EventDelivery:
    """A new pending delivery."""
    delivery = EventDelivery(f"delivery-{next(_ids)}", url, payload)
    DELIVERIES[delivery.id] = delivery
    return delivery


def create_attempt(delivery: EventDelivery, task_id: str | None, retries: int) -> EventDeliveryAttempt:
    """Record an attempt of ``delivery`` by the task run ``task_id``."""
    attempt = EventDeliveryAttempt(task_id, retries)
    delivery.attempts.append(attempt)
    return attempt
