"""JSON encoding of task arguments and results: what crosses the wire, and how.

Plain JSON values (str, int, float, bool, None, list, dict with str keys) travel as themselves; tuples
travel as lists. A few common types round-trip through a tagged object ``{"__squall__": TAG, "v": ...}``:

=========  ==============================  ==========================================
type       tag                             value
=========  ==============================  ==========================================
datetime   ``datetime``                    ISO 8601 (offset kept; naive stays naive)
date       ``date``                        ISO 8601
time       ``time``                        ISO 8601
UUID       ``uuid``                        canonical string
Decimal    ``decimal``                     ``str(value)``, exact
bytes      ``bytes``                       base64
dict       ``dict``                        ``[[key, value], ...]`` (only for a dict that has
                                           the tag key itself, so user data is never misread)
=========  ==============================  ==========================================

Anything else (sets, objects, NaN and infinities, non-str dict keys) is refused with an
:class:`~squall.errors.EncodeError` naming where it was found. Nothing is ever pickled or evaluated.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from squall.errors import EncodeError

TAG = "__squall__"
#: Characters no message body may hold raw (see :func:`wire_text`).
_UNSENDABLE = re.compile("[\ud800-\udfff\ufffe\uffff]")
_INT_TEXT_BITS = 14_000
#: Deepest nesting the encoder accepts. Decoding is bounded by the parser's own recursion limit instead,
#: and deeper input becomes a ValueError (so a DecodeError, never a RecursionError escaping the worker).
MAX_DEPTH = 100

_DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "uuid": uuid.UUID,
    "decimal": Decimal,
    "bytes": lambda v: base64.b64decode(v, validate=True),
}


def to_json_ready(value: Any, path: str, depth: int = 0) -> Any:
    """Return ``value`` as plain JSON-ready data, or raise EncodeError naming ``path``."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        # Python refuses to write an int of more than sys.get_int_max_str_digits() digits (4,300 by default) as
        # text; about 14,000 bits is the cheap pre-check, repr the exact one.
        if value.bit_length() > _INT_TEXT_BITS:
            try:
                repr(value)
            except ValueError:
                raise EncodeError(path, "an int this large cannot be written as JSON text (pass it as a str)") from None
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EncodeError(path, f"{value!r} is not a finite number and JSON cannot carry it")
        return value
    if depth >= MAX_DEPTH:
        raise EncodeError(path, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, (list, tuple)):
        return [to_json_ready(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodeError(path, f"dict key {key!r} is {type(key).__name__}; JSON object keys must be str")
            out[key] = to_json_ready(item, f"{path}[{key!r}]", depth + 1)
        if TAG in out:
            return {TAG: "dict", "v": [[k, v] for k, v in out.items()]}
        return out
    return _tagged(value, path)


def _tagged(value: Any, path: str) -> dict[str, Any]:
    # datetime is a subclass of date: test it first.
    if isinstance(value, dt.datetime):
        return {TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {TAG: "date", "v": value.isoformat()}
    if isinstance(value, dt.time):
        return {TAG: "time", "v": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {TAG: "uuid", "v": str(value)}
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise EncodeError(path, f"Decimal {value} is not finite and cannot be carried")
        return {TAG: "decimal", "v": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {TAG: "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
    hint = (
        " (pass a sorted list)"
        if isinstance(value, (set, frozenset))
        else (" (convert it to a dict or list first, e.g. dataclasses.asdict)")
    )
    raise EncodeError(path, f"a {type(value).__name__} cannot be carried as JSON{hint}")


def _object_hook(obj: dict[str, Any]) -> Any:
    tag = obj.get(TAG)
    if tag is None:
        return obj
    if tag == "dict":
        return {key: item for key, item in obj["v"]}
    decoder = _DECODERS.get(tag) if isinstance(tag, str) else None
    if decoder is None:
        raise ValueError(f"unknown value tag {tag!r}")
    return decoder(obj["v"])


def dumps(value: Any, path: str = "value") -> str:
    """Encode ``value`` to compact JSON text, refusing what JSON cannot carry faithfully."""
    return wire_text(json.dumps(to_json_ready(value, path), separators=(",", ":"), ensure_ascii=False, allow_nan=False))


def wire_text(text: str) -> str:
    """JSON text with the characters SQS, DynamoDB and UTF-8 cannot carry written as ``\\uXXXX`` escapes.

    Lone surrogates (a Python str may hold them; UTF-8 cannot) and U+FFFE/U+FFFF (outside the XML character
    set SQS accepts) can only occur inside JSON strings, where the escape decodes to the same value.
    """
    return _UNSENDABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def loads(text: str | bytes) -> Any:
    """Decode JSON text written by :func:`dumps`, restoring tagged values.

    Raises ValueError (including for over-deep nesting) on anything malformed.
    """
    try:
        return json.loads(text, object_hook=_object_hook, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise ValueError(f"JSON nested too deeply to decode (over {MAX_DEPTH} levels)") from exc
    except (KeyError, TypeError, binascii.Error, InvalidOperation) as exc:
        raise ValueError(f"malformed tagged value: {exc!r}") from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
