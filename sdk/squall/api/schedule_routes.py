"""``/v1/schedules``: the app's dynamic schedules (``app.schedules``) over HTTP.

``POST`` creates one (``{"name", "task", "args"?, "kwargs"?, "cron" | "rate" | "at", "timezone"?, "enabled"?,
"queue"?, "start"?, "end"?}`` → 201; an HTTP target's has ``"target", "payload"?, "method"?, "headers"?,
"timeout"?`` instead of the task and its arguments), ``GET`` lists them or reads one, ``DELETE`` removes one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from squall.api.payloads import an_object, json_body, parse_time, target_request
from squall.api.sending import refusal, refuse_http_task_by_name, target_signature
from squall.api.views import error, reply, schedule_summary, schedule_view
from squall.errors import ApiRequestError, InvalidArguments, InvalidSchedule, ScheduleExists, ScheduleNotFound
from squall.tasks.task import Signature

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

    from squall.app import Squall

_FIELDS = frozenset({"name", "task", "args", "kwargs", "cron", "rate", "at", "timezone", "enabled", "queue"})
_FIELDS |= {"start", "end"}
#: A schedule of an HTTP target: its request (as ``POST /v1/tasks`` takes it) instead of a task and arguments.
_TARGET_FIELDS = (_FIELDS - {"task", "args", "kwargs"}) | {"target", "payload", "method", "headers", "timeout"}


def add_routes(resolver: APIGatewayHttpResolver, app: Squall, prefix: str) -> None:
    """Add the schedule routes to ``resolver``."""

    def not_found(exc: ScheduleNotFound) -> Response[str]:
        return error(404, str(exc))

    resolver.exception_handler(ScheduleNotFound)(not_found)

    def taken(exc: ScheduleExists) -> Response[str]:
        return error(409, str(exc))

    resolver.exception_handler(ScheduleExists)(taken)

    @resolver.post(f"{prefix}/schedules")
    def create() -> Response[str]:
        doc = an_object(json_body(resolver.current_event.decoded_body))
        if "target" in doc and "task" in doc:
            raise ApiRequestError('give either "task" (a registered task\'s name) or "target" (a URL), not both')
        allowed = _TARGET_FIELDS if "target" in doc else _FIELDS
        unknown = sorted(set(doc) - allowed)
        if unknown:
            raise ApiRequestError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
        name = doc.get("name")
        if not isinstance(name, str):
            raise ApiRequestError('"name" (the schedule\'s) must be a string')
        signature = target_signature(app, target_request(doc, "the body")) if "target" in doc else _call(app, doc)
        options: dict[str, Any] = {key: doc[key] for key in ("cron", "rate", "at", "timezone", "queue") if key in doc}
        for key in ("cron", "rate", "at", "timezone", "queue"):
            if key in options and not isinstance(options[key], str):
                raise ApiRequestError(f'"{key}" must be a string')
        if "at" in options:
            options["at"] = parse_time(options["at"], '"at"')
        for key in ("start", "end"):
            if doc.get(key) is not None:
                options[key] = parse_time(_text(doc[key], key), f'"{key}"')
        enabled = doc.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ApiRequestError('"enabled" must be true or false')
        try:
            info = app.schedules.create(name, signature, enabled=enabled, **options)
        except (InvalidArguments, InvalidSchedule, ValueError) as exc:
            raise refusal(exc) from None
        return reply(201, schedule_view(info))

    @resolver.get(f"{prefix}/schedules")
    def listed() -> Response[str]:
        return reply(200, {"schedules": [schedule_summary(s) for s in app.schedules.list()]})

    @resolver.get(f"{prefix}/schedules/<name>")
    def read(name: str) -> Response[str]:
        return reply(200, schedule_view(app.schedules.get(name)))

    @resolver.delete(f"{prefix}/schedules/<name>")
    def delete(name: str) -> Response[str]:
        if not app.schedules.delete(name):
            raise ScheduleNotFound(name)
        return reply(200, {"name": name, "deleted": True})


def _call(app: Squall, doc: dict[str, Any]) -> Signature[Any]:
    """The registered task's call a schedule's ``task``, ``args`` and ``kwargs`` describe, its arguments checked."""
    task = doc.get("task")
    refuse_http_task_by_name(task)
    if not isinstance(task, str):
        raise ApiRequestError('give "task" (a registered task\'s name, as a string) or "target" (a URL)')
    if task not in app.tasks:
        known = ", ".join(sorted(app.tasks)) or "none"
        raise ApiRequestError(f"unknown task {task!r}: schedule one of the app's registered tasks ({known})")
    args, kwargs = doc.get("args", []), doc.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ApiRequestError('"args" must be a JSON array and "kwargs" a JSON object')
    try:
        app.get_task(task).bind_arguments(tuple(args), kwargs)
    except InvalidArguments as exc:
        raise refusal(exc) from None
    return Signature(task, tuple(args), kwargs, app=app)


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ApiRequestError(f'"{key}" must be an ISO 8601 string, like 2026-12-24T09:00:00Z')
    return value
