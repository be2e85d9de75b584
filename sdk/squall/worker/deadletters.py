"""Sending a message to its queue's dead-letter queue with Squall's attributes: why, which task, from where.

Used by the worker (a task it made DEAD, a message it cannot run) and by the reconciler (a message SQS's
redrive policy moved). Only Squall writes ``squall.*`` attributes on a DLQ message: any that a sender set on
the original message are dropped here, so a DLQ message's reason and task id are always Squall's.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from squall import limits
from squall.deploy import fifo as fifo_rules
from squall.errors import StoreError

if TYPE_CHECKING:
    from squall.protocols import App

#: Message attributes Squall adds to a dead-lettered message.
REASON_ATTRIBUTE = "squall.reason"
TASK_ID_ATTRIBUTE = "squall.task_id"
SOURCE_ATTRIBUTE = "squall.source"
RECEIVES_ATTRIBUTE = "squall.receive_count"
#: The prefix of every attribute Squall owns; a sender's attributes under it are never forwarded.
OWN_PREFIX = "squall."

logger = logging.getLogger("squall.worker.deadletters")


def send_to_dlq(
    app: App,
    queue: str,
    body: str,
    *,
    reason: str,
    task_id: str | None,
    receive_count: int,
    forwarded: Mapping[str, dict[str, Any]] = {},  # read only
    note: bool = True,
    group: str | None = None,
    deduplication: str | None = None,
) -> None:
    """Put ``body`` in logical ``queue``'s DLQ with the reason; ``forwarded`` are the message's own attributes.

    ``forwarded`` is in the Lambda event's shape (camelCase, binary as base64); sender-set ``squall.*``
    attributes among them are dropped. Once sent, a DEAD task's record notes it (``lettered_at``), so that a
    later copy of its message is acknowledged without a second letter; callers record DEAD first. ``note``
    False writes nothing (an untracked task has no record to note it on).

    A FIFO DLQ takes the letter in ``group``, the message's own group (so a redrive returns it there), else in
    a group of its own; ``deduplication`` is its MessageDeduplicationId, by default one per receive.
    """
    address = app.settings.queue(queue)
    ours = {
        REASON_ATTRIBUTE: reason[: limits.MAX_REASON_CHARS],
        SOURCE_ATTRIBUTE: address.arn,
        RECEIVES_ATTRIBUTE: str(receive_count),
    }
    if task_id is not None:
        ours[TASK_ID_ATTRIBUTE] = task_id
    candidates = [(k, {"DataType": "String", "StringValue": v}) for k, v in ours.items()]
    candidates += [
        (name, attribute_for_send(value)) for name, value in forwarded.items() if not name.startswith(OWN_PREFIX)
    ]
    attributes = fitting_attributes(body, candidates)
    key = task_id or hashlib.sha256(body.encode("utf-8")).hexdigest()
    request: dict[str, Any] = {"QueueUrl": address.dlq_url, "MessageBody": body, "MessageAttributes": attributes}
    request.update(
        fifo_rules.send_fields(address.dlq_url, group or key, deduplication or f"{key}#dead#{receive_count}")
    )
    app.sqs.send_message(**request)
    if task_id is None or not note:
        return
    try:
        app.store.lettered(task_id)
    except (ClientError, StoreError) as exc:  # the letter is in the DLQ: a later copy only adds another
        logger.warning("task %s: could not note its dead letter (%s); a later copy may add a second", task_id, exc)


def forwardable(attributes: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """A received message's own attributes in SendMessage's shape, without any ``squall.*`` a sender set."""
    return {name: attribute_for_send(v) for name, v in attributes.items() if not name.startswith(OWN_PREFIX)}


def fitting_attributes(body: str, candidates: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The candidate attributes, in order, that fit beside ``body`` in one SQS message.

    SQS counts each attribute's name, type and value toward the message size limit: a message that was
    at the limit on its source queue has no room for Squall's attributes, and a DLQ copy that SQS refuses
    would fail its record on every receive. Squall's reason is shortened to fit; others fit whole or not.
    """
    room = limits.SQS_MAX_MESSAGE_BYTES - len(body.encode("utf-8"))
    chosen: dict[str, Any] = {}
    for name, value in candidates:
        head = len(name.encode()) + len(value["DataType"].encode())
        data = value.get("BinaryValue") or value.get("StringValue", "").encode()
        if name == REASON_ATTRIBUTE and head + len(data) > room:
            data = data[: max(0, room - head)]  # a cut UTF-8 sequence is dropped by the decode below
            value = {**value, "StringValue": data.decode(errors="ignore")}
        if not data or name in chosen or len(chosen) >= limits.SQS_MAX_MESSAGE_ATTRIBUTES or head + len(data) > room:
            continue  # SQS refuses an empty value too
        chosen[name] = value
        room -= head + len(data)
    return chosen


def attribute_for_send(value: dict[str, Any]) -> dict[str, Any]:
    """A Lambda-event message attribute (camelCase, binary as base64) in SendMessage's shape."""
    out: dict[str, Any] = {"DataType": value.get("dataType", "String")}
    if value.get("binaryValue") is not None:
        out["BinaryValue"] = base64.b64decode(value["binaryValue"])
    else:
        out["StringValue"] = value.get("stringValue") or ""
    return out
