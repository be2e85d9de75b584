"""Delivering one HTTP-target attempt, and what its outcome means for the task.

* 2xx: the task succeeds with ``{"status", "headers", "body"}`` (the body's first 64 KiB, as text).
* A connection error, a timeout, a broken or malformed response, 408, 429 or 5xx: ``Retry``, after the
  ``Retry-After`` the target gave (delta-seconds or an HTTP date, capped at
  :data:`~squall.limits.HTTP_TARGET_MAX_RETRY_AFTER_SECONDS`), else after the task's backoff.
* 301, 302, 303: followed as a GET without body (HEAD stays HEAD), as browsers do; 307, 308: followed with the
  same method and body. At most :data:`~squall.limits.HTTP_TARGET_MAX_REDIRECTS` per attempt, each hop checked
  by the guard again. Headers given in ``headers=`` go to another origin only if they carry no credentials
  (``Authorization``, ``Cookie``, ``Proxy-Authorization`` are dropped there, as browsers drop them).
* A refused target (:class:`~squall.errors.TargetRefused`), any other 4xx or 3xx, or too many redirects:
  :class:`~squall.errors.DeliveryFailed`, which the built-in task does not retry: DEAD at once, the cause in
  the reason. No connection is made to a refused address.
"""

from __future__ import annotations

import datetime
import email.utils
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from squall import clock, limits
from squall.errors import DeliveryFailed, TargetRefused
from squall.targets import client, webhooks
from squall.targets.guard import Resolver, Target, parse_target, resolve
from squall.targets.spec import HttpRequest
from squall.tasks.task import Retry

#: Statuses retried: the target may accept the same request later.
RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504}) | frozenset(range(505, 600))
#: Redirects followed as GET without body (as browsers do); the others keep the method and body.
REDIRECT_TO_GET = frozenset({301, 302, 303})
REDIRECT_KEEP = frozenset({307, 308})
#: Request headers not sent to another origin after a redirect.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


class Unreachable(Exception):
    """An attempt that got no usable answer; retried with the task's backoff (or ``retry_after``)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one delivery needs besides the request: its id, how to sign, and the address policy."""

    task_id: str
    keys: Callable[[], list[bytes]]
    allow_private: bool = False
    resolver: Resolver | None = None


def deliver(request: HttpRequest, attempt: Attempt) -> dict[str, Any]:
    """Make the request (following redirects); the result on 2xx, else Retry or DeliveryFailed (see module)."""
    try:
        keys = attempt.keys()
    except Exception as exc:  # the secret's store is unreachable or misread: another attempt may read it
        raise Retry(exc=exc) from exc
    timestamp = int(clock.now())
    target, method, body = request.target, request.method, request.body()
    headers = dict(request.headers)
    origin = target.origin
    for _hop in range(limits.HTTP_TARGET_MAX_REDIRECTS + 1):
        try:
            address = resolve(target, allow_private=attempt.allow_private, resolver=attempt.resolver)
        except TargetRefused as exc:
            raise DeliveryFailed(target.url, f"refused: {exc.cause}") from None
        sent = {**headers, **webhooks.headers(keys, attempt.task_id, timestamp, body)}
        if body or method not in ("GET", "HEAD"):
            sent["Content-Type"] = "application/json"
        try:
            response = client.send(target, address, method, sent, body, timeout=request.timeout)
        except client.TransportError as exc:
            raise Retry(exc=Unreachable(f"{target.url}: {exc}")) from None
        status = response.status
        if 200 <= status < 300:
            return {"status": status, "headers": dict(response.headers), "body": response.text()}
        if status in RETRIED_STATUSES:
            delay = retry_after(response.headers.get("retry-after"), clock.now())
            raise Retry(countdown=delay, exc=Unreachable(f"{target.url} answered {status}", delay))
        if status in REDIRECT_TO_GET | REDIRECT_KEEP:
            location = response.headers.get("location")
            if not location:
                raise DeliveryFailed(target.url, f"answered {status} without a Location to follow")
            try:
                target = parse_target(urljoin(target.url, location))
            except TargetRefused as exc:
                raise DeliveryFailed(target.url, f"redirected ({status}) to a target refused: {exc.cause}") from None
            if status in REDIRECT_TO_GET and method != "HEAD":
                method, body = "GET", b""
            if target.origin != origin:
                headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
            continue
        raise DeliveryFailed(target.url, f"answered {status}{_excerpt(response)} (not retried)")
    raise DeliveryFailed(request.url, f"redirected more than {limits.HTTP_TARGET_MAX_REDIRECTS} times")


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (capped), or None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    seconds: float
    if text.isascii() and text.isdigit():  # delta-seconds are ASCII digits (str.isdigit takes any script's)
        seconds = float(int(text))
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            # asctime, the third HTTP-date form (RFC 9110 5.6.7), carries no zone: HTTP dates are all in GMT.
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), float(limits.HTTP_TARGET_MAX_RETRY_AFTER_SECONDS))


def _excerpt(response: client.Response) -> str:
    text = response.text().strip().replace("\n", " ")
    return f": {text[:200]}" if text else ""


def target_host(target: Target | str) -> str:
    """The host whose flow-control budget a target spends (the ``host`` argument of the built-in task)."""
    return (parse_target(target) if isinstance(target, str) else target).host
