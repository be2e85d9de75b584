"""Request bodies of the REST API, checked by hand into frozen dataclasses (one-line errors, no pydantic).

Every problem raises :class:`~squall.errors.ApiRequestError` whose message names the field and says what to do;
the routes answer it as ``400 {"error": ...}`` (``413`` for an oversized body).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from squall import limits
from squall.errors import ApiRequestError

#: Largest request body, in bytes: one SQS message (a body that large could not be carried anyway).
MAX_BODY_BYTES = limits.SQS_MAX_MESSAGE_BYTES
#: Most calls in one ``POST /v1/batches`` (sent 10 per SendMessageBatch request).
MAX_BATCH_ITEMS = 100
#: HTTP methods a target task may use.
TARGET_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_TASK_FIELDS = frozenset({"task", "args", "kwargs", "countdown", "eta", "max_retries", "queue", "id"})
_TARGET_FIELDS = frozenset(
    {"target", "payload", "method", "headers", "countdown", "eta", "max_retries", "timeout", "id"}
)


@dataclass(frozen=True, slots=True)
class When:
    """When a call is due: ``countdown`` seconds from now, or at ``eta``; neither means now."""

    countdown: float | None = None
    eta: datetime | None = None


@dataclass(frozen=True, slots=True)
class TaskCall:
    """``{"task": name, "args", "kwargs"}``: a registered task, by name."""

    task: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    when: When = When()
    max_retries: int | None = None
    queue: str | None = None
    task_id: str | None = None


@dataclass(frozen=True, slots=True)
class TargetCall:
    """``{"target": url, "payload"}``: an HTTP-target task (``app.send_http``)."""

    target: str
    payload: Any = None
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    when: When = When()
    max_retries: int | None = None
    timeout: float | None = None
    task_id: str | None = None


Call = TaskCall | TargetCall


def json_body(body: str | None) -> Any:
    """The parsed JSON body; 413 past :data:`MAX_BODY_BYTES`, 400 if absent or not JSON."""
    if body is None or not body.strip():
        raise ApiRequestError("the request has no body: send a JSON object with Content-Type: application/json")
    if len(body.encode()) > MAX_BODY_BYTES:
        raise ApiRequestError(f"the body is over the {MAX_BODY_BYTES}-byte cap: send less per request", status=413)
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise ApiRequestError(f"the body is not valid JSON ({exc}): send a JSON object") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def an_object(doc: Any, where: str = "the body") -> dict[str, Any]:
    """``doc`` if it is a JSON object."""
    if not isinstance(doc, dict):
        raise ApiRequestError(f"{where} must be a JSON object, got {_kind(doc)}")
    return doc


def call_from_doc(doc: Any, *, where: str = "the body", task_id: str | None = None) -> Call:
    """The call a ``POST /v1/tasks`` body (or one batch item) describes; ``task_id`` from ``Idempotency-Key``."""
    doc = an_object(doc, where)
    has_task, has_target = "task" in doc, "target" in doc
    if has_task == has_target:
        raise ApiRequestError(f'{where}: give either "task" (a registered task\'s name) or "target" (a URL), not both')
    allowed = _TASK_FIELDS if has_task else _TARGET_FIELDS
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise ApiRequestError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    when = when_from_doc(doc, where)
    max_retries = _optional_int(doc, "max_retries", where)
    given_id = _optional_str(doc, "id", where)
    if given_id is not None and task_id is not None and given_id != task_id:
        raise ApiRequestError(f'{where}: "id" and the Idempotency-Key header differ; give one of them')
    task_id = task_id or given_id
    if has_task:
        args = doc.get("args", [])
        kwargs = doc.get("kwargs", {})
        if not isinstance(args, list):
            raise ApiRequestError(f'{where}: "args" must be a JSON array, got {_kind(args)}')
        if not isinstance(kwargs, dict):
            raise ApiRequestError(f'{where}: "kwargs" must be a JSON object, got {_kind(kwargs)}')
        name = _required_str(doc, "task", where)
        queue = _optional_str(doc, "queue", where)
        return TaskCall(name, tuple(args), kwargs, when, max_retries, queue, task_id)
    request = target_request(doc, where)
    return TargetCall(
        request.target, request.payload, request.method, request.headers, when, max_retries, request.timeout, task_id
    )


def target_request(doc: dict[str, Any], where: str) -> TargetCall:
    """The request fields of a target form (``target``, ``payload``, ``method``, ``headers``, ``timeout``), checked;
    the other fields are left to the caller."""
    method = (_optional_str(doc, "method", where) or "POST").upper()
    if method not in TARGET_METHODS:
        raise ApiRequestError(f'{where}: "method" must be one of {", ".join(TARGET_METHODS)}, got {method!r}')
    headers = doc.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ApiRequestError(f'{where}: "headers" must be an object of strings, like {{"X-Tenant": "acme"}}')
    timeout = _optional_number(doc, "timeout", where)
    target = _required_str(doc, "target", where)
    return TargetCall(target, doc.get("payload"), method, headers, timeout=timeout)


def when_from_doc(doc: dict[str, Any], where: str) -> When:
    """``countdown`` (seconds, not negative) or ``eta`` (ISO 8601 with a UTC offset), not both."""
    countdown = _optional_number(doc, "countdown", where)
    eta_text = _optional_str(doc, "eta", where)
    if countdown is not None and eta_text is not None:
        raise ApiRequestError(f'{where}: give "countdown" or "eta", not both')
    if countdown is not None and countdown < 0:
        raise ApiRequestError(f'{where}: "countdown" is seconds from now and cannot be negative, got {countdown}')
    if eta_text is None:
        return When(countdown=countdown)
    return When(eta=parse_time(eta_text, f'{where}: "eta"'))


def parse_time(text: str, where: str) -> datetime:
    """An aware datetime from ISO 8601 text with an offset (``2026-12-24T09:00:00Z``)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ApiRequestError(f"{where} must be ISO 8601, like 2026-12-24T09:00:00Z; got {text!r}") from None
    if when.tzinfo is None:
        raise ApiRequestError(f"{where} needs a UTC offset (Z or +01:00...), got {text!r}")
    return when


def batch_from_doc(doc: Any) -> list[Call]:
    """The calls of a ``POST /v1/batches`` body: ``{"tasks": [call, ...]}``, each checked before any is sent."""
    doc = an_object(doc)
    unknown = sorted(set(doc) - {"tasks"})
    items = doc.get("tasks")
    if unknown or not isinstance(items, list) or not items:
        raise ApiRequestError('the body must be {"tasks": [...]} with one call or more, each as POST /v1/tasks takes')
    if len(items) > MAX_BATCH_ITEMS:
        raise ApiRequestError(f"a batch holds at most {MAX_BATCH_ITEMS} calls, got {len(items)}: split it")
    calls = [call_from_doc(item, where=f"tasks[{i}]") for i, item in enumerate(items)]
    ids = [c.task_id for c in calls if c.task_id is not None]
    if len(ids) != len(set(ids)):
        raise ApiRequestError('two calls in the batch have the same "id": give each its own')
    return calls


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def _required_str(doc: dict[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise ApiRequestError(f'{where}: "{key}" must be a non-empty string, got {_kind(value)}')
    return value


def _optional_str(doc: dict[str, Any], key: str, where: str) -> str | None:
    return None if doc.get(key) is None else _required_str(doc, key, where)


def _optional_number(doc: dict[str, Any], key: str, where: str) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiRequestError(f'{where}: "{key}" must be a number, got {_kind(value)}')
    return float(value)


def _optional_int(doc: dict[str, Any], key: str, where: str) -> int | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApiRequestError(f'{where}: "{key}" must be a whole number, 0 or more, got {value!r}')
    return value
