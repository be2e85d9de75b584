"""The task envelope: the one JSON document that carries a task through SQS and the Scheduler.

Wire format, version 1 (compact JSON, UTF-8)::

    {"v": 1, "id": "<task id>", "task": "<registered name>", "args": [...], "kwargs": {...},
     "queue": "default", "created": 1763900000.123, "eta": 1763900900.0, "redrives": 0}

``eta`` and ``redrives`` are omitted when unset. ``created`` may also be an ISO 8601 UTC time
(``"2026-11-23T09:00:00Z"``): EventBridge Scheduler writes one when it substitutes
``<aws.scheduler.scheduled-time>`` into a schedule's envelope template. Unknown fields are ignored so
that newer producers can add optional fields within a version; a different ``v`` is refused. Values
inside ``args`` and ``kwargs`` use :mod:`squall.codec`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from squall import codec
from squall.errors import DecodeError, EncodeError
from squall.limits import ENVELOPE_VERSION, MAX_TASK_ID_CHARS

#: Task ids: DynamoDB keys, SQS attribute values and (hashed) Scheduler names; printable, no spaces.
_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+=/-]*")
#: Task names: a given name, or ``module.qualname`` (which holds ``<locals>`` for a function defined in one).
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:<>-]*")
_MAX_NAME_CHARS = 256
#: The time format EventBridge Scheduler substitutes for <aws.scheduler.scheduled-time> (2022-03-22T18:59:43Z).
_SCHEDULED_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z")


def valid_task_id(value: object) -> bool:
    """Whether ``value`` may be used as a task id."""
    return isinstance(value, str) and 0 < len(value) <= MAX_TASK_ID_CHARS and _TASK_ID.fullmatch(value) is not None


def valid_task_name(value: object) -> bool:
    """Whether ``value`` may name a task (the worker refuses envelopes naming anything else)."""
    return isinstance(value, str) and len(value) <= _MAX_NAME_CHARS and _NAME.fullmatch(value) is not None


def check_task_id(value: object) -> str:
    """Return ``value`` if it is a usable task id, else raise ValueError saying what is allowed."""
    if not valid_task_id(value):
        raise ValueError(
            f"task_id {value!r} is not usable: give 1-{MAX_TASK_ID_CHARS} characters of letters, digits "
            "and _.:@+=/- starting with a letter or digit"
        )
    return str(value)


@dataclass(frozen=True, slots=True)
class Envelope:
    """One task invocation as it travels: id, task name, arguments and delivery metadata."""

    id: str
    task: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str = "default"
    created: float = 0.0
    eta: float | None = None
    redrives: int = 0

    def encode(self, *, arg_names: tuple[str, ...] = ()) -> str:
        """Return the JSON body; EncodeError names the argument (by parameter name when known)."""
        args = []
        for index, value in enumerate(self.args):
            label = arg_names[index] if index < len(arg_names) else f"args[{index}]"
            args.append(codec.to_json_ready(value, f"argument {label!r}"))
        kwargs = {key: codec.to_json_ready(value, f"argument {key!r}") for key, value in self.kwargs.items()}
        doc: dict[str, Any] = {
            "v": ENVELOPE_VERSION,
            "id": self.id,
            "task": self.task,
            "args": args,
            "kwargs": kwargs,
            "queue": self.queue,
            "created": self.created,
        }
        if self.eta is not None:
            doc["eta"] = self.eta
        if self.redrives:
            doc["redrives"] = self.redrives
        try:
            return codec.wire_text(json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False))
        except ValueError as exc:  # only a non-finite created/eta can reach here
            raise EncodeError("envelope", str(exc)) from exc

    @classmethod
    def decode(cls, body: str | bytes) -> Envelope:
        """Parse a message body; every problem becomes one DecodeError whose reason names it."""
        try:
            doc = codec.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DecodeError(f"body is not valid JSON: {str(exc)[:200]}", task_id=_salvage_id(body)) from exc
        if not isinstance(doc, dict):
            raise DecodeError(f"body is JSON {type(doc).__name__}, not an envelope object")
        raw_id = doc.get("id")
        task_id = raw_id if valid_task_id(raw_id) else None
        if isinstance(doc.get("v"), bool) or doc.get("v") != ENVELOPE_VERSION:  # True == 1 in Python
            raise DecodeError(
                f"envelope version {_clip(doc.get('v'))} is not supported (this worker reads version "
                f"{ENVELOPE_VERSION}); upgrade the worker or send from a matching SDK",
                task_id=task_id,
            )
        if task_id is None:
            raise DecodeError(f"field 'id' {_clip(raw_id)} is not a valid task id")
        problems = _field_problems(doc)
        if problems:
            raise DecodeError("; ".join(problems), task_id=task_id)
        return cls(
            id=task_id,
            task=doc["task"],
            args=tuple(doc.get("args", ())),
            kwargs=doc.get("kwargs", {}),
            queue=doc.get("queue", "default"),
            created=_epoch(doc.get("created") or 0.0),  # null reads as unset, like eta
            eta=None if doc.get("eta") is None else float(doc["eta"]),
            redrives=doc.get("redrives", 0),
        )


def _field_problems(doc: dict[str, Any]) -> list[str]:
    problems = []
    name = doc.get("task")
    if not valid_task_name(name):
        problems.append(f"field 'task' {_clip(name)} is not a task name")
    if not isinstance(doc.get("args", []), list):
        problems.append(f"field 'args' must be a list, got {type(doc.get('args')).__name__}")
    if not isinstance(doc.get("kwargs", {}), dict):
        problems.append(f"field 'kwargs' must be an object, got {type(doc.get('kwargs')).__name__}")
    if not isinstance(doc.get("queue", "default"), str):
        problems.append("field 'queue' must be a string")
    for key in ("created", "eta"):
        value = doc.get(key)
        if key == "created" and isinstance(value, str) and _SCHEDULED_TIME.fullmatch(value):
            try:
                _epoch(value)
            except ValueError:
                problems.append(f"field 'created' {_clip(value)} is not a valid date and time")
            continue
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
        ):
            problems.append(f"field {key!r} must be a number of epoch seconds, got {_clip(value)}")
    redrives = doc.get("redrives", 0)
    if isinstance(redrives, bool) or not isinstance(redrives, int) or redrives < 0:
        problems.append(f"field 'redrives' must be a non-negative integer, got {_clip(redrives)}")
    return problems


def _epoch(value: float | str) -> float:
    """Epoch seconds from a number or a Scheduler time (already checked by _field_problems)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return float(value)


def _clip(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _salvage_id(body: str | bytes) -> str | None:
    """The task id of a body whose tagged values are broken but whose JSON is not, so DEAD can be recorded."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    raw = doc.get("id") if isinstance(doc, dict) else None
    return raw if valid_task_id(raw) else None
