"""The reference an envelope or a stored result carries in place of an offloaded value, and its limits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from squall import limits
from squall.errors import DecodeError

#: Largest value offloaded, in bytes of its JSON text (arguments of one message, or one result).
MAX_OFFLOAD_BYTES = 100 * 1024 * 1024
#: Bytes kept free below a carrier's limit for what follows the offload step (other body codecs, the
#: signature header, about 60 bytes): an envelope's JSON past ``limit - HEADROOM_BYTES`` is offloaded.
HEADROOM_BYTES = 16 * 1024
#: Largest envelope JSON sent to SQS as it is, in bytes.
SQS_INLINE_MAX_BYTES = limits.SQS_MAX_MESSAGE_BYTES - HEADROOM_BYTES
#: Largest envelope JSON given to EventBridge Scheduler (a long delay) as it is, in bytes.
SCHEDULER_INLINE_MAX_BYTES = limits.SCHEDULER_MAX_INPUT_BYTES - HEADROOM_BYTES
#: Largest result stored in its task's DynamoDB item, in bytes: the rest of the item (state, times, error,
#: progress) must fit beside it within the item's 400 KB.
RESULT_INLINE_MAX_BYTES = 350 * 1024
#: Key prefixes (the grants and the lifecycle rules use them): an offloaded message's arguments when it is due
#: within SQS's 15 minutes, when it is due later (kept much longer), and an offloaded result.
ARGUMENTS_PREFIX = "args/"
DELAYED_ARGUMENTS_PREFIX = "args-delayed/"
RESULTS_PREFIX = "results/"
#: Every prefix arguments are written under.
ARGUMENTS_PREFIXES = (ARGUMENTS_PREFIX, DELAYED_ARGUMENTS_PREFIX)
#: The option of a version 2 envelope that holds the reference (and is required: a worker without offload
#: refuses the message rather than running the task without its arguments).
OPTION = "payload"
#: The tag of a stored result that is a reference: ``{"__squall__": "offload", "v": <reference>}``. The value
#: codec escapes any user dict holding ``__squall__``, so no result is ever read as one by mistake.
RESULT_TAG = "offload"
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Reference:
    """Where an offloaded value is (its key in the payload bucket), its SHA-256 and its size in bytes."""

    key: str
    sha256: str
    bytes: int

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready form: ``{"key": ..., "sha256": ..., "bytes": ...}``."""
        return {"key": self.key, "sha256": self.sha256, "bytes": self.bytes}

    @classmethod
    def from_json(cls, doc: object, *, prefix: tuple[str, ...], task_id: str | None = None) -> Reference:
        """The reference ``doc`` describes; DecodeError names what is wrong (a key under no ``prefix`` too)."""
        if not isinstance(doc, dict) or set(doc) != {"key", "sha256", "bytes"}:
            raise DecodeError(
                f"offload reference {str(doc)[:120]!r} is not an object of exactly 'key', 'sha256' and 'bytes'",
                task_id=task_id,
            )
        key, sha256, size = doc["key"], doc["sha256"], doc["bytes"]
        problems = []
        if not (isinstance(key, str) and key.startswith(prefix) and 0 < len(key.encode("utf-8")) <= 1024):
            problems.append(f"key {str(key)[:120]!r} is not an object key under {' or '.join(prefix)}")
        if not (isinstance(sha256, str) and _SHA256.fullmatch(sha256)):
            problems.append(f"sha256 {str(sha256)[:80]!r} is not 64 lowercase hex digits")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_OFFLOAD_BYTES:
            problems.append(f"bytes {str(size)[:40]!r} is not a size from 0 to {MAX_OFFLOAD_BYTES:,}")
        if problems:
            raise DecodeError(f"offload reference: {'; '.join(problems)}", task_id=task_id)
        return cls(key, sha256, size)
