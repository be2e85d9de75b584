"""The REST API's OpenAPI 3.1 document, written by hand (the tests validate it and check it against the routes).

Schemas use JSON Schema 2020-12, as OpenAPI 3.1 does, so a response can be checked with ``jsonschema`` against
``components.schemas``.
"""

from __future__ import annotations

import copy
from typing import Any

from squall.api.payloads import MAX_BATCH_ITEMS, MAX_BODY_BYTES, TARGET_METHODS
from squall.states import State

_JSON = "application/json"
_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _body(schema: str, description: str) -> dict[str, Any]:
    return {"required": True, "description": description, "content": {_JSON: {"schema": _ref(schema)}}}


def _answer(description: str, schema: str = "Error") -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": _ref(schema)}}}


_BAD = _answer("Bad input: the message says what was wrong and what to do.")
_UNAUTHORIZED = _answer("No credentials, or a token the API does not accept.")
_TOO_LARGE = _answer(f"The body is over {MAX_BODY_BYTES} bytes (or the task it encodes is over SQS's limit).")
_UNAVAILABLE = _answer("SQS or the app's resources could not be reached; send again with the same Idempotency-Key.")
_WHEN = {
    "countdown": {"type": "number", "minimum": 0, "description": "Seconds from now before the task is due."},
    "eta": {"type": "string", "format": "date-time", "description": "When the task is due (ISO 8601, with offset)."},
}
_ID = {"type": "string", "description": "The task id (else the Idempotency-Key header, else a new one)."}
_NULLABLE_OBJECT = {"type": ["object", "null"]}
#: An HTTP target's request, in a call, a workflow step or a schedule.
_TARGET_REQUEST: dict[str, Any] = {
    "target": {"type": "string", "format": "uri", "description": "The http(s) URL the payload goes to."},
    "payload": {"description": "Any JSON value, sent as application/json."},
    "method": {"type": "string", "enum": list(TARGET_METHODS), "default": "POST"},
    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
    "timeout": {"type": "number", "exclusiveMinimum": 0},
}
_SCHEDULE_WHEN: dict[str, Any] = {
    "cron": {"type": "string", "description": 'Six fields, "0 9 ? * MON-FRI *".'},
    "rate": {"type": "string", "description": '"15 minutes".'},
    "at": {"type": "string", "format": "date-time", "description": "Fires once."},
    "timezone": {"type": "string", "default": "UTC"},
    "enabled": {"type": "boolean", "default": True},
    "queue": {"type": "string"},
    "start": {"type": "string", "format": "date-time"},
    "end": {"type": "string", "format": "date-time"},
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "What was wrong, and what to do."}},
    },
    "TaskCall": {
        "type": "object",
        "required": ["task"],
        "additionalProperties": False,
        "properties": {
            "task": {"type": "string", "description": "A task the app registers."},
            "args": {"type": "array"},
            "kwargs": {"type": "object"},
            "max_retries": {"type": "integer", "minimum": 0},
            "queue": {"type": "string"},
            "id": _ID,
            **_WHEN,
        },
        "not": {"required": ["countdown", "eta"]},
    },
    "TargetCall": {
        "type": "object",
        "required": ["target"],
        "additionalProperties": False,
        "properties": {
            **_TARGET_REQUEST,
            "max_retries": {"type": "integer", "minimum": 0},
            "id": _ID,
            **_WHEN,
        },
        "not": {"required": ["countdown", "eta"]},
    },
    "Call": {"oneOf": [_ref("TaskCall"), _ref("TargetCall")]},
    "Accepted": {
        "type": "object",
        "required": ["id", "state"],
        "properties": {"id": {"type": "string"}, "state": {"type": "string", "enum": [s.value for s in State]}},
    },
    "Batch": {
        "type": "object",
        "required": ["tasks"],
        "additionalProperties": False,
        "properties": {"tasks": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH_ITEMS, "items": _ref("Call")}},
    },
    "BatchAccepted": {
        "type": "object",
        "required": ["tasks"],
        "properties": {"tasks": {"type": "array", "items": _ref("Accepted")}},
    },
    "Workflow": {
        "type": "object",
        "required": ["workflow"],
        "additionalProperties": False,
        "properties": {
            "workflow": {
                "type": "object",
                "description": 'A signature {"task", "args", "kwargs"}, a target step {"target", "payload", '
                '"method"?, "headers"?, "timeout"?}, {"chain": [...]}, {"group": [...]} or '
                '{"chord": {"group": [...]}, "body": {...}}; a step may carry "link" and "link_error".',
            },
            **_WHEN,
        },
    },
    "Task": {
        "type": "object",
        "required": ["id", "state", "result", "progress", "error", "attempts"],
        "properties": {
            "id": {"type": "string"},
            "state": {"type": "string", "enum": [s.value for s in State]},
            "result": {"description": "The return value once SUCCESS, in Squall's JSON form; else null."},
            "progress": {
                "type": ["object", "null"],
                "properties": {
                    "percent": {"type": "number"},
                    "message": {"type": ["string", "null"]},
                    "meta": {"type": "object"},
                },
            },
            "error": {
                "type": ["object", "null"],
                "required": ["type", "message"],
                "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
            },
            "attempts": {"type": "integer", "minimum": 0},
        },
    },
    "Revoked": {
        "type": "object",
        "required": ["id", "state"],
        "properties": {"id": {"type": "string"}, "state": {"const": "REVOKED"}},
    },
    "NewSchedule": {"oneOf": [_ref("TaskSchedule"), _ref("TargetSchedule")]},
    "TaskSchedule": {
        "type": "object",
        "required": ["name", "task"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "task": {"type": "string", "description": "A task the app registers."},
            "args": {"type": "array"},
            "kwargs": {"type": "object"},
            **_SCHEDULE_WHEN,
        },
        "oneOf": [{"required": ["cron"]}, {"required": ["rate"]}, {"required": ["at"]}],
    },
    "TargetSchedule": {
        "type": "object",
        "required": ["name", "target"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            **_TARGET_REQUEST,
            **_SCHEDULE_WHEN,
        },
        "oneOf": [{"required": ["cron"]}, {"required": ["rate"]}, {"required": ["at"]}],
    },
    "Schedule": {
        "type": "object",
        "required": ["name", "expression", "timezone", "enabled", "task", "args", "kwargs", "start", "end"],
        "properties": {
            "name": {"type": "string"},
            "expression": {"type": "string"},
            "timezone": {"type": "string"},
            "enabled": {"type": "boolean"},
            "task": {"type": "string"},
            "args": {"type": "array"},
            "kwargs": {"type": "object"},
            "start": {"type": ["string", "null"]},
            "end": {"type": ["string", "null"]},
        },
    },
    "ScheduleList": {
        "type": "object",
        "required": ["schedules"],
        "properties": {
            "schedules": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "enabled", "created"],
                    "properties": {
                        "name": {"type": "string"},
                        "enabled": {"type": "boolean"},
                        "created": {"type": ["string", "null"]},
                    },
                },
            }
        },
    },
    "Deleted": {
        "type": "object",
        "required": ["name", "deleted"],
        "properties": {"name": {"type": "string"}, "deleted": {"const": True}},
    },
    "OpenApiDocument": {"type": "object", "required": ["openapi", "paths"]},
}

_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Becomes the task id: the same key sends the same task, which runs once.",
    "schema": {"type": "string"},
}
_TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}
_SCHEDULE_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_PROTECTED = {"401": _UNAUTHORIZED}

_PATHS: dict[str, Any] = {
    "/v1/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document (no credentials needed).",
            "security": [],
            "responses": {"200": _answer("The OpenAPI 3.1 document.", "OpenApiDocument")},
        }
    },
    "/v1/tasks": {
        "post": {
            "operationId": "sendTask",
            "summary": "Send a registered task by name, or an HTTP-target task.",
            "parameters": [_IDEMPOTENCY],
            "requestBody": _body("Call", "A task call or a target call, due now, after countdown, or at eta."),
            "responses": {
                "202": _answer("Queued.", "Accepted"),
                "400": _BAD,
                **_PROTECTED,
                "413": _TOO_LARGE,
                "503": _UNAVAILABLE,
            },
        }
    },
    "/v1/tasks/{task_id}": {
        "get": {
            "operationId": "getTask",
            "summary": "A task's state, result, progress, error and attempts.",
            "parameters": [_TASK_ID],
            "responses": {"200": _answer("The task.", "Task"), **_PROTECTED, "404": _answer("No such task.")},
        },
        "delete": {
            "operationId": "revokeTask",
            "summary": "Revoke a task that has not started.",
            "parameters": [_TASK_ID],
            "responses": {
                "200": _answer("Revoked: it will not run.", "Revoked"),
                "400": _answer("The id is not a usable task id."),
                **_PROTECTED,
                "409": _answer("It is running, or has finished; nothing changed."),
            },
        },
    },
    "/v1/batches": {
        "post": {
            "operationId": "sendBatch",
            "summary": f"Send up to {MAX_BATCH_ITEMS} calls; all are checked before any is sent.",
            "requestBody": _body("Batch", "The calls, each as POST /v1/tasks takes (with an optional id)."),
            "responses": {
                "202": _answer("Queued, in order.", "BatchAccepted"),
                "400": _BAD,
                **_PROTECTED,
                "413": _TOO_LARGE,
                "503": _UNAVAILABLE,
            },
        }
    },
    "/v1/workflows": {
        "post": {
            "operationId": "sendWorkflow",
            "summary": "Send a chain, group or chord written as JSON.",
            "requestBody": _body("Workflow", "The workflow's document."),
            "responses": {
                "202": _answer("Queued: the id of its last step (a chain's) or its group.", "Accepted"),
                "400": _BAD,
                **_PROTECTED,
                "413": _TOO_LARGE,
                "503": _UNAVAILABLE,
            },
        }
    },
    "/v1/schedules": {
        "post": {
            "operationId": "createSchedule",
            "summary": "Create a dynamic schedule (cron, rate or at).",
            "requestBody": _body("NewSchedule", "The schedule."),
            "responses": {
                "201": _answer("Created.", "Schedule"),
                "400": _BAD,
                **_PROTECTED,
                "409": _answer("A schedule of this name exists."),
                "413": _TOO_LARGE,
            },
        },
        "get": {
            "operationId": "listSchedules",
            "summary": "The app's dynamic schedules.",
            "responses": {"200": _answer("The schedules.", "ScheduleList"), **_PROTECTED},
        },
    },
    "/v1/schedules/{name}": {
        "get": {
            "operationId": "getSchedule",
            "summary": "One dynamic schedule.",
            "parameters": [_SCHEDULE_NAME],
            "responses": {"200": _answer("The schedule.", "Schedule"), **_PROTECTED, "404": _answer("No such one.")},
        },
        "delete": {
            "operationId": "deleteSchedule",
            "summary": "Delete a dynamic schedule.",
            "parameters": [_SCHEDULE_NAME],
            "responses": {"200": _answer("Deleted.", "Deleted"), **_PROTECTED, "404": _answer("No such one.")},
        },
    },
}

_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Squall REST API",
        "version": "1",
        "description": "Send, read and revoke Squall tasks, batches, workflows and schedules from any language.",
    },
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "paths": _PATHS,
    "components": {
        "schemas": _SCHEMAS,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_DOCUMENT)
