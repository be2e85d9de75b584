"""What the REST API answers with: tasks, schedules and errors as plain JSON documents."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from squall.scheduler.schedules import ScheduleInfo, ScheduleSummary
from squall.state.schema import TaskRecord


def reply(status: int, doc: Any, headers: dict[str, str] | None = None) -> Response[str]:
    """A JSON response."""
    body = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response[str]:
    """``{"error": message}`` with ``status``."""
    return reply(status, {"error": message}, headers)


def task_view(record: TaskRecord) -> dict[str, Any]:
    """``{"id", "state", "result", "progress", "error", "attempts"}``: the result in Squall's JSON form."""
    result = json.loads(record.result_json) if record.result_json is not None else None
    progress = None
    if record.progress is not None:
        p = record.progress
        progress = {"percent": p.percent, "message": p.message, "meta": p.meta}
    failure = None
    if record.error is not None:
        failure = {"type": record.error.type, "message": record.error.message}
    elif record.reason is not None:
        failure = {"type": "Reason", "message": record.reason}
    return {
        "id": record.id,
        "state": str(record.state),
        "result": result,
        "progress": progress,
        "error": failure,
        "attempts": record.attempt,
    }


def _time(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def schedule_view(info: ScheduleInfo) -> dict[str, Any]:
    """A dynamic schedule: when it fires, what it runs, whether it is enabled."""
    return {
        "name": info.name,
        "expression": info.expression,
        "timezone": info.timezone,
        "enabled": info.enabled,
        "task": info.task,
        "args": list(info.args),
        "kwargs": info.kwargs,
        "start": _time(info.start),
        "end": _time(info.end),
    }


def schedule_summary(summary: ScheduleSummary) -> dict[str, Any]:
    """A dynamic schedule as listed (``GET /v1/schedules/{name}`` has its expression)."""
    return {"name": summary.name, "enabled": summary.enabled, "created": _time(summary.created)}
