"""Offloading arguments: the built-in, innermost step of the body codec chain (:class:`ArgumentOffload`).

An envelope whose JSON is past its carrier's limit (SQS's message, or EventBridge Scheduler's Input for a
long delay: an ``eta`` more than SQS's 15 minutes after ``created``) keeps every field but its arguments;
``{"args": [...], "kwargs": {...}}`` goes to the payload bucket and the envelope, written as version 2,
carries the :class:`~squall.offload.reference.Reference` as its required ``payload`` option::

    {"v": 2, "id": "...", "task": "...", "args": [], "kwargs": {}, "queue": "default", "created": ...,
     "options": {"payload": {"key": "args/<id>/<sha256>", "sha256": "<sha256>", "bytes": 5242931}},
     "required": ["payload"]}

Signing, outermost, covers the reference and so the hash. Decoding fetches the object, checks its hash and
puts the arguments back. A recurring schedule's Input is never offloaded (nothing bounds how long it would
reference the object): it is refused past the Scheduler's limit as before.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from squall import clock, limits
from squall.errors import DecodeError, MessageTooLarge
from squall.offload.objects import PayloadObjects
from squall.offload.reference import (
    ARGUMENTS_PREFIX,
    ARGUMENTS_PREFIXES,
    DELAYED_ARGUMENTS_PREFIX,
    MAX_OFFLOAD_BYTES,
    OPTION,
    SCHEDULER_INLINE_MAX_BYTES,
    SQS_INLINE_MAX_BYTES,
    Reference,
)

if TYPE_CHECKING:
    from squall.protocols import App

#: Characters a body may not hold raw (lone surrogates, U+FFFE/U+FFFF), written as JSON escapes; what
#: squall.wire.codec.wire_text does, repeated here because offload sits below the wire layer.
_UNSENDABLE = re.compile("[\ud800-\udfff\ufffe\uffff]")


def json_text(value: Any) -> str:
    """Compact JSON of already JSON-ready ``value``, with the characters no body may hold escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return _UNSENDABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def inline_limit(doc: dict[str, Any], text: str) -> int:
    """The largest envelope JSON that travels as it is: the Scheduler's for a long delay, else SQS's."""
    created, eta = doc.get("created"), doc.get("eta")
    numbers = isinstance(created, (int, float)) and isinstance(eta, (int, float))
    long_delay = numbers and eta - created > limits.SQS_MAX_DELAY_SECONDS  # type: ignore[operator]
    return (
        SCHEDULER_INLINE_MAX_BYTES if long_delay or limits.SCHEDULER_TIME_PLACEHOLDER in text else SQS_INLINE_MAX_BYTES
    )


def prefix_for(doc: dict[str, Any]) -> str:
    """Where a message's arguments go: due within SQS's longest delay, or later (a lifecycle rule each)."""
    eta = doc.get("eta")
    later = isinstance(eta, (int, float)) and eta - clock.now() > limits.SQS_MAX_DELAY_SECONDS
    return DELAYED_ARGUMENTS_PREFIX if later else ARGUMENTS_PREFIX


class ArgumentOffload:
    """The chain's offload step: arguments past the carrier's limit go to the payload bucket, and come back."""

    name = "offload"

    def __init__(self, app: App) -> None:
        self.objects = PayloadObjects(app)

    def encode(self, text: str) -> str:
        """``text`` as it is, or (past its carrier's limit, with a payload bucket) the envelope with a reference."""
        if len(text) <= SCHEDULER_INLINE_MAX_BYTES // 4:  # 4 bytes per character at most: surely inline
            return text
        size = len(text.encode("utf-8"))
        if size <= SCHEDULER_INLINE_MAX_BYTES:
            return text
        doc = json.loads(text)
        if not isinstance(doc, dict) or size <= inline_limit(doc, text) or not self.objects.bucket:
            return text  # the producer's own size check refuses it when it is too large to send
        data = json_text({"args": doc.get("args", []), "kwargs": doc.get("kwargs", {})}).encode("utf-8")
        if len(data) > MAX_OFFLOAD_BYTES:
            raise MessageTooLarge(str(doc.get("task")), len(data), MAX_OFFLOAD_BYTES, service="S3 offload")
        reference = self.objects.put(prefix_for(doc), str(doc["id"]), data)
        doc["args"], doc["kwargs"] = [], {}
        options = doc.get("options") or {}
        if doc.get("v") == 1:  # version 1 has no options: its budget moves into them
            max_retries = doc.pop("max_retries", None)
            if max_retries is not None:
                options["max_retries"] = max_retries
            doc["v"] = 2
        options[OPTION] = reference.to_json()
        doc["options"] = options
        doc["required"] = sorted({*doc.get("required", []), OPTION})
        return json_text(doc)

    def decode(self, body: str) -> str:
        """``body`` as it is, or with the offloaded arguments fetched, checked against their hash and put back."""
        if f'"{OPTION}"' not in body:
            return body
        doc = json.loads(body)
        options = doc.get("options") if isinstance(doc, dict) else None
        if not isinstance(options, dict) or OPTION not in options:
            return body
        raw_id = doc.get("id")
        task_id = raw_id if isinstance(raw_id, str) else None
        reference = Reference.from_json(options.pop(OPTION), prefix=ARGUMENTS_PREFIXES, task_id=task_id)
        data = self.objects.get(reference, "the offloaded arguments", task_id=task_id)
        try:
            stored = json.loads(data.decode("utf-8"))
        except ValueError as exc:
            raise DecodeError(f"the offloaded arguments {reference.key} are not JSON: {exc}", task_id=task_id) from exc
        if not (isinstance(stored, dict) and set(stored) == {"args", "kwargs"}):
            raise DecodeError(
                f"the offloaded arguments {reference.key} are not an object of 'args' and 'kwargs'", task_id=task_id
            )
        doc["args"], doc["kwargs"] = stored["args"], stored["kwargs"]
        required = [name for name in doc.get("required", []) if name != OPTION]
        if required:
            doc["required"] = required
        else:
            doc.pop("required", None)
        if not options:
            doc.pop("options")
        return json_text(doc)
