"""``/v1/schedules``: the app's dynamic schedules (``app.schedules``) over HTTP.

``POST`` creates one (``{"name", "task", "args"?, "kwargs"?, "cron" | "rate" | "at", "timezone"?, "enabled"?,
"queue"?, "start"?, "end"?}`` → 201), ``GET`` lists them or reads one, ``DELETE`` removes one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from squall.api.payloads import an_object, json_body, parse_time
from squall.api.sending import refusal
from squall.api.views import error, reply, schedule_summary, schedule_view
from squall.errors import ApiRequestError, InvalidArguments, InvalidSchedule, ScheduleExists, ScheduleNotFound
from squall.tasks.task import Signature

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

    from squall.app import Squall

_FIELDS = frozenset({"name", "task", "args", "kwargs", "cron", "rate", "at", "timezone", "enabled", "queue"})
_FIELDS |= {"start", "end"}


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
        unknown = sorted(set(doc) - _FIELDS)
        if unknown:
            raise ApiRequestError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_FIELDS))}")
        name, task = doc.get("name"), doc.get("task")
        if not isinstance(name, str) or not isinstance(task, str):
            raise ApiRequestError('"name" (the schedule\'s) and "task" (a registered task\'s) must be strings')
        if task not in app.tasks:
            known = ", ".join(sorted(app.tasks)) or "none"
            raise ApiRequestError(f"unknown task {task!r}: schedule one of the app's registered tasks ({known})")
        args, kwargs = doc.get("args", []), doc.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ApiRequestError('"args" must be a JSON array and "kwargs" a JSON object')
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
            app.get_task(task).bind_arguments(tuple(args), kwargs)
            signature: Signature[Any] = Signature(task, tuple(args), kwargs, app=app)
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


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ApiRequestError(f'"{key}" must be an ISO 8601 string, like 2026-12-24T09:00:00Z')
    return value
