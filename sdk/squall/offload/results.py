"""Offloading results: the worker writes a large result to the payload bucket, readers fetch and check it.

The task's item then stores ``{"__squall__": "offload", "v": <reference>}`` as its result, a tagged value no
user result can be (the value codec escapes user dicts holding ``__squall__``); an older reader refuses it
as an unknown tag rather than misreading it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from squall.errors import DecodeError, MessageTooLarge
from squall.offload.arguments import json_text
from squall.offload.objects import PayloadObjects
from squall.offload.reference import MAX_OFFLOAD_BYTES, RESULT_INLINE_MAX_BYTES, RESULT_TAG, RESULTS_PREFIX, Reference

if TYPE_CHECKING:
    from squall.protocols import App

#: How a stored result that is a reference begins (``json_text`` writes the tag first).
_MARK = f'{{"__squall__":"{RESULT_TAG}",'


def stored_result(app: App, task_id: str, result_json: str, task_name: str) -> str:
    """What the item stores for ``result_json``: itself, or past the item's room (with a bucket) a reference.

    MessageTooLarge past :data:`~squall.offload.reference.MAX_OFFLOAD_BYTES`.
    """
    if len(result_json) <= RESULT_INLINE_MAX_BYTES // 4:  # 4 bytes per character at most: surely inline
        return result_json
    data = result_json.encode("utf-8")
    objects = PayloadObjects(app)
    if len(data) <= RESULT_INLINE_MAX_BYTES or not objects.bucket:
        return result_json  # the worker's own size check refuses it when it does not fit the item
    if len(data) > MAX_OFFLOAD_BYTES:
        raise MessageTooLarge(task_name, len(data), MAX_OFFLOAD_BYTES, service="S3 offload (its result)")
    reference = objects.put(RESULTS_PREFIX, task_id, data)
    return json_text({"__squall__": RESULT_TAG, "v": reference.to_json()})


def result_text(app: App, stored: str, task_id: str | None = None) -> str:
    """The result JSON ``stored`` holds or refers to; DecodeError when the object is missing or altered."""
    if not stored.startswith(_MARK):
        return stored
    try:
        doc = json.loads(stored)
    except ValueError as exc:
        raise DecodeError(f"the stored result reference is not JSON: {exc}", task_id=task_id) from exc
    reference = Reference.from_json(doc.get("v"), prefix=(RESULTS_PREFIX,), task_id=task_id)
    return PayloadObjects(app).get(reference, "the offloaded result", task_id=task_id).decode("utf-8")
