"""The task envelope: the one JSON document that carries a task through SQS and the Scheduler.

Two versions are read; ``docs/wire-format.md`` is the full description and ``docs/envelope.schema.json``
its JSON Schema. Version 1 (compact JSON, UTF-8)::

    {"v": 1, "id": "<task id>", "task": "<registered name>", "args": [...], "kwargs": {...},
     "queue": "default", "created": 1763900000.123, "eta": 1763900900.0, "redrives": 0, "max_retries": 5}

Version 2 moves per-message options into one typed, extensible object and says which of them a worker must
understand::

    {"v": 2, "id": "...", "task": "...", "args": [...], "kwargs": {...}, "queue": "default",
     "created": 1763900000.123, "options": {"max_retries": 5, "link": [...]}, "required": ["link"]}

``eta``, ``redrives``, ``max_retries``, ``options`` and ``required`` are omitted when unset. ``max_retries``
overrides the task's retry budget for this one call (0 to :data:`~squall.limits.MAX_RETRIES_CEILING`): a
top-level field in version 1, an option in version 2 (where the top-level field is refused, so that a
misplaced budget is never ignored). ``created`` may also be an ISO 8601 UTC time
(``"2026-11-23T09:00:00Z"``): EventBridge Scheduler writes one when it substitutes
``<aws.scheduler.scheduled-time>`` into a schedule's envelope template. Unknown top-level fields are ignored
(any name but the codec's tag key); a ``v`` other than the integers 1 and 2 is refused. Values inside
``args``, ``kwargs`` and options use :mod:`squall.wire.codec`.

Options (version 2) are declared, named and judged in :mod:`squall.wire.options` (``OPTIONS``,
``declare_option``, re-exported here): an option named in ``required`` that this worker does not understand
makes the whole message refused; an unknown option not named there is carried along unread.

What this SDK writes: the lowest version that carries the message. A message with no option but
``max_retries`` is written as version 1, which every worker reads, so producers may be upgraded before
workers; a message carrying any other option is written as version 2, and a worker that reads only version
1 refuses it by its version, never dropping the option silently.

Decoding is total: any body, text or bytes, becomes an :class:`Envelope` or one
:class:`~squall.errors.DecodeError` whose reason names the field, option, argument or tag at fault. Beyond
the codec's rules, and alike both ways (:meth:`Envelope.encode` refuses the same delivery fields):

* ``created`` and ``eta`` are epoch seconds from 0 (1970-01-01T00:00:00Z) to the last second of 9999,
  what :class:`~datetime.datetime` represents (the worker, the Scheduler's ``at()`` and the CLI turn them
  into datetimes), and numbers DynamoDB can store. Negative times are refused: Squall writes clock
  readings, and a time before 1970 comes from a wrong clock or a wrong unit, not from a caller's intent.
  ``null`` reads as unset.
* ``redrives`` is a non-negative integer of at most 38 digits (DynamoDB's precision); ``max_retries`` an
  integer within the ceiling (``null`` reads as unset).
* ``queue`` is a string of 1 to 80 characters (an SQS queue name's limit), none a control character or a
  surrogate.
* ``args``, ``kwargs`` and option values nest at most :data:`~squall.wire.codec.MAX_DEPTH` levels, like the
  encoder. ``kwargs`` keys may be any string: the worker's argument binding refuses those that name no
  parameter.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from squall.errors import DecodeError, EncodeError, InvalidTaskId
from squall.limits import ENVELOPE_VERSION, MAX_DECODE_REASON_CHARS, MAX_TASK_ID_CHARS, SCHEDULER_TIME_PATTERN
from squall.wire import codec
from squall.wire.options import (
    OPTIONS,
    Option,
    declare_option,
    declared_required,
    max_retries_problem,
    not_understood,
    option_problems,
    quoted,
)

__all__ = [
    "OPTIONS",
    "V1",
    "V2",
    "VERSIONS",
    "Envelope",
    "Option",
    "check_task_id",
    "declare_option",
    "max_retries_problem",
    "valid_queue_name",
    "valid_task_id",
    "valid_task_name",
]

#: The first version: delivery fields at the top level, no options.
V1 = ENVELOPE_VERSION
#: The version with the ``options`` object and its ``required`` list.
V2 = 2
#: The versions this SDK reads (and writes: the lowest that carries the message).
VERSIONS = (V1, V2)

#: Task ids: DynamoDB keys, SQS attribute values and (hashed) Scheduler names; printable, no spaces.
_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+=/-]*")
#: Task names: a given name, or ``module.qualname`` (which holds ``<locals>`` for a function defined in one).
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:<>-]*")
_MAX_NAME_CHARS = 256
#: The time format EventBridge Scheduler substitutes for <aws.scheduler.scheduled-time> (2022-03-22T18:59:43Z).
_SCHEDULED_TIME = re.compile(SCHEDULER_TIME_PATTERN)
#: Queue names: a logical queue is one SQS queue, whose name SQS limits to 80 characters; the name is also
#: written to DynamoDB, which stores UTF-8 (no surrogates), and shown by the CLI (no control characters).
_MAX_QUEUE_CHARS = 80
_QUEUE = re.compile(f"[^\x00-\x1f\x7f\ud800-\udfff]{{1,{_MAX_QUEUE_CHARS}}}")
#: The last epoch second a datetime can represent (9999-12-31T23:59:59Z): the latest usable created or eta.
_LATEST_EPOCH = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
#: DynamoDB's Number type (Amazon DynamoDB Developer Guide, "Supported data types and naming rules in Amazon
#: DynamoDB", Number): up to 38 significant digits, and a non-zero magnitude from 1E-130 to
#: 9.9999999999999999999999999999999999999E+125. The worker writes created, eta and redrives as Numbers
#: (and adds 1 to redrives: at most 38 digits keeps the sum storable too).
_DYNAMODB_NUMBER_DIGITS = 38
_DYNAMODB_NUMBER_SMALLEST = Decimal("1E-130")
_DYNAMODB_NUMBER_LARGEST = Decimal("9.9999999999999999999999999999999999999E+125")


def valid_task_id(value: object) -> bool:
    """Whether ``value`` may be used as a task id."""
    return isinstance(value, str) and 0 < len(value) <= MAX_TASK_ID_CHARS and _TASK_ID.fullmatch(value) is not None


def valid_task_name(value: object) -> bool:
    """Whether ``value`` may name a task (the worker refuses envelopes naming anything else)."""
    return isinstance(value, str) and len(value) <= _MAX_NAME_CHARS and _NAME.fullmatch(value) is not None


def valid_queue_name(value: object) -> bool:
    """Whether ``value`` may name a queue in an envelope (1-80 characters, none a control character)."""
    return isinstance(value, str) and len(value) <= _MAX_QUEUE_CHARS and _QUEUE.fullmatch(value) is not None


def check_task_id(value: object) -> str:
    """Return ``value`` if it is a usable task id, else raise InvalidTaskId saying what is allowed."""
    if not valid_task_id(value):
        raise InvalidTaskId(
            f"task_id {value!r} is not usable: give 1-{MAX_TASK_ID_CHARS} characters of letters, digits "
            "and _.:@+=/- starting with a letter or digit"
        )
    return str(value)


@dataclass(frozen=True, slots=True)
class Envelope:
    """One task invocation as it travels: id, task name, arguments, delivery metadata and options."""

    id: str
    task: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str = "default"
    created: float = 0.0
    eta: float | None = None
    redrives: int = 0
    #: This call's retry budget, overriding the task's own; None keeps the task's. It is the ``max_retries``
    #: option (a field of its own: the worker reads it for every message).
    max_retries: int | None = None
    #: Every other option the message carries, by name: those in :data:`OPTIONS` checked, unknown optional
    #: ones as they came (carried along unread).
    options: dict[str, Any] = field(default_factory=dict)
    #: Options to mark required beyond those :data:`OPTIONS` marks (a sender may mark any option it sets).
    required: frozenset[str] = frozenset()

    def encode(self, *, arg_names: tuple[str, ...] = (), version: int | None = None) -> str:
        """Return the JSON body; EncodeError names the argument (by parameter name when known) or the field.

        ``version`` None writes the lowest version that carries the envelope (see the module docstring).
        """
        args = []
        for index, value in enumerate(self.args):
            label = arg_names[index] if index < len(arg_names) else f"args[{index}]"
            args.append(codec.to_json_ready(value, f"argument {label!r}"))
        kwargs = {}
        for key, value in self.kwargs.items():
            codec.check_text(key, f"argument {key!r}")
            kwargs[key] = codec.to_json_ready(value, f"argument {key!r}")
        options = {name: value for name, value in self.options.items() if value is not None}
        written = (V2 if options or self.required else V1) if version is None else version
        doc: dict[str, Any] = {
            "v": written,
            "id": self.id,
            "task": self.task,
            "args": args,
            # A keyword argument named like the tag key would read back as a tagged value: escape it like a dict.
            "kwargs": codec.escape_tag_key(kwargs),
            "queue": self.queue,
            "created": self.created,
        }
        if self.eta is not None:
            doc["eta"] = self.eta
        if self.redrives:
            doc["redrives"] = self.redrives
        _, problems = _delivery_fields(doc)
        if written == V1:
            if options or self.required:
                problems.append(f"version 1 carries no options (this envelope has {codec.short_repr(sorted(options))})")
            if self.max_retries is not None:
                doc["max_retries"] = self.max_retries
            problem = max_retries_problem(self.max_retries)
            if problem is not None:
                problems.append(f"field 'max_retries' {problem}")
        elif written == V2:
            if "max_retries" in options:
                problems.append("option 'max_retries' is the envelope's max_retries field: set that instead")
            given = {} if self.max_retries is None else {"max_retries": self.max_retries}
            given.update(options)
            required = self.required | declared_required(given)
            problems += option_problems(given, required)
            if given:
                doc["options"] = {name: codec.to_json_ready(value, f"option {name!r}") for name, value in given.items()}
            if required:
                doc["required"] = sorted(required)
        else:
            problems.append(f"version {written!r} is not one this SDK writes ({_versions_text()})")
        if problems:
            raise EncodeError("envelope", "; ".join(problems))
        return codec.compact(doc)

    @classmethod
    def decode(cls, body: str | bytes) -> Envelope:
        """Parse a message body; every problem becomes one DecodeError whose reason names it."""
        if not isinstance(body, (str, bytes, bytearray)):
            raise DecodeError(f"body is a {type(body).__name__}, not text")
        try:
            doc = codec.loads(body)
        except ValueError as exc:  # the one error codec.loads raises, whatever the body
            raise DecodeError(f"body is not valid JSON: {str(exc)[:200]}", task_id=_salvage_id(body)) from exc
        if not isinstance(doc, dict):
            raise DecodeError(f"body is JSON {type(doc).__name__}, not an envelope object")
        raw_id = doc.get("id")
        task_id = raw_id if valid_task_id(raw_id) else None
        version = doc.get("v")
        if type(version) is not int or version not in VERSIONS:  # neither True (== 1) nor 1.0
            raise DecodeError(
                f"envelope version {codec.short_repr(version)} is not supported (this worker reads "
                f"{_versions_text()}); upgrade the worker or send from a matching SDK",
                task_id=task_id,
            )
        if task_id is None:
            raise DecodeError(f"field 'id' {codec.short_repr(raw_id)} is not a valid task id")
        fields, problems = _delivery_fields(doc)
        options, options_wrong = _v1_options(doc) if version == V1 else _v2_options(doc)
        problems = options_wrong + _content_problems(doc) + problems
        if problems:
            raise DecodeError(_joined(problems), task_id=task_id)
        return cls(
            id=task_id,
            task=doc["task"],
            args=tuple(doc.get("args", ())),
            kwargs=doc.get("kwargs", {}),
            **fields,
            **options,
        )


def _versions_text() -> str:
    """The versions read, for messages: "versions 1 and 2"."""
    *earlier, last = (str(version) for version in VERSIONS)
    return f"versions {', '.join(earlier)} and {last}" if earlier else f"version {last}"


def _v1_options(doc: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The options of a version 1 ``doc`` (``max_retries`` alone, at the top level), and what is wrong."""
    max_retries = doc.get("max_retries")
    problem = max_retries_problem(max_retries)
    if problem is not None:
        return {}, [f"field 'max_retries' {problem}"]
    return {"max_retries": max_retries}, []


def _v2_options(doc: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The ``max_retries``, ``options`` and ``required`` of a version 2 ``doc`` as Envelope takes them."""
    problems = []
    if "max_retries" in doc:
        problems.append("field 'max_retries' is an option in version 2: move it into 'options'")
    given = doc.get("options")
    if given is None:
        given = {}
    elif not isinstance(given, dict):
        problems.append(f"field 'options' must be an object, got {type(given).__name__}")
        given = {}
    listed = doc.get("required")
    if listed is None:
        listed = []
    elif not (isinstance(listed, list) and all(isinstance(n, str) for n in listed) and len(set(listed)) == len(listed)):
        problems.append(f"field 'required' must be a list of distinct option names, got {codec.short_repr(listed)}")
        listed = []
    unknown = not_understood(listed)
    if unknown:
        # First: nothing else about the message matters until a worker that understands it reads it.
        problems.insert(0, f"this worker does not understand required {quoted(unknown)}; upgrade the worker")
    problems += option_problems(given, listed)
    options = {name: value for name, value in given.items() if value is not None and name != "max_retries"}
    required = frozenset(listed) - declared_required(listed)
    return {"max_retries": given.get("max_retries"), "options": options, "required": required}, problems


def _content_problems(doc: Mapping[str, Any]) -> list[str]:
    """What is wrong with the task name and the arguments of ``doc``."""
    problems = []
    name = doc.get("task")
    if not valid_task_name(name):
        problems.append(f"field 'task' {codec.short_repr(name)} is not a task name")
    args, kwargs = doc.get("args", []), doc.get("kwargs", {})
    if not isinstance(args, list):
        problems.append(f"field 'args' must be a list, got {type(args).__name__}")
        args = []
    if not isinstance(kwargs, dict):
        problems.append(f"field 'kwargs' must be an object, got {type(kwargs).__name__}")
        kwargs = {}
    nested = (list, dict)  # a scalar is never too deep: checked without a walk
    deep = next((f"args[{i}]" for i, v in enumerate(args) if isinstance(v, nested) and codec.too_deep(v)), None)
    if deep is None:
        deep = next((key for key, v in kwargs.items() if isinstance(v, nested) and codec.too_deep(v)), None)
    if deep is not None:  # the first one only: it is enough to act on, and the reason stays short
        problems.append(f"argument {codec.short_repr(deep)} is nested too deeply (over {codec.MAX_DEPTH} levels)")
    return problems


def _delivery_fields(doc: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The queue, times and redrive count of ``doc`` as Envelope takes them, and what is wrong with them."""
    problems = []
    queue = doc.get("queue", "default")
    if not valid_queue_name(queue):
        problems.append(
            f"field 'queue' must be a string of 1-{_MAX_QUEUE_CHARS} characters, none a control character or "
            f"a surrogate, got {codec.short_repr(queue)}"
        )
    created, created_problems = _time(doc, "created")
    eta, eta_problems = _time(doc, "eta")
    problems += created_problems + eta_problems
    redrives = doc.get("redrives", 0)
    if not codec.is_int(redrives) or not 0 <= redrives < 10**_DYNAMODB_NUMBER_DIGITS:
        problems.append(
            f"field 'redrives' must be a non-negative integer of at most {_DYNAMODB_NUMBER_DIGITS} digits, "
            f"got {codec.short_repr(redrives)}"
        )
    fields = {"queue": queue, "created": created or 0.0, "eta": eta, "redrives": redrives}
    return fields, problems


def _time(doc: Mapping[str, Any], key: str) -> tuple[float | None, list[str]]:
    """Field ``key`` of ``doc`` as epoch seconds (None when absent or null), and what is wrong with it."""
    value = doc.get(key)
    if value is None:
        return None, []
    if type(value) is float and 1.0 <= value <= _LATEST_EPOCH:  # the usual: a time as Squall writes it
        return value, []  # (finite, and DynamoDB stores every float of this range: see _dynamodb_number)
    if key == "created" and isinstance(value, str) and _SCHEDULED_TIME.fullmatch(value):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None, [f"field 'created' {codec.short_repr(value)} is not a valid date and time"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):  # True == 1; a restored Decimal is no number
        return None, [f"field {key!r} must be a number of epoch seconds, got {codec.short_repr(value)}"]
    if not (0 <= value <= _LATEST_EPOCH and _dynamodb_number(value)):  # NaN fails every comparison
        return None, [
            f"field {key!r} {codec.short_repr(value)} is not a usable time: give epoch seconds from 0 (1970) "
            f"to {_LATEST_EPOCH} (the end of 9999)"
        ]
    return float(value), []


def _dynamodb_number(value: float) -> bool:
    """Whether DynamoDB can store ``value``, written as Python writes it, as a Number."""
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if value == 0:
        return True
    if not _DYNAMODB_NUMBER_SMALLEST <= abs(value) <= _DYNAMODB_NUMBER_LARGEST:  # exact, int or float
        return False
    # A float's repr has at most 17 significant digits; an int within the magnitudes has at most 126 digits.
    return isinstance(value, float) or len(str(abs(value)).rstrip("0")) <= _DYNAMODB_NUMBER_DIGITS


def _joined(problems: list[str]) -> str:
    """The problems as one reason, as many whole ones as fit in the limit and a count of the rest."""
    kept: list[str] = []
    size = 0
    for problem in problems:
        if kept and size + len(problem) + 2 > MAX_DECODE_REASON_CHARS - 40:
            break
        kept.append(problem[: MAX_DECODE_REASON_CHARS - 40])
        size += len(kept[-1]) + 2
    rest = len(problems) - len(kept)
    return "; ".join(kept) + (f"; and {rest} more problem{'s' if rest > 1 else ''}" if rest else "")


def _salvage_id(body: str | bytes) -> str | None:
    """The task id of a body whose tagged values are broken but whose JSON is not, so DEAD can be recorded."""
    try:
        doc = json.loads(bytes(body).decode("utf-8") if isinstance(body, (bytes, bytearray)) else body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    raw = doc.get("id") if isinstance(doc, dict) else None
    return raw if valid_task_id(raw) else None
