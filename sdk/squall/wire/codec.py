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

Anything else (sets, objects, NaN and infinities, non-str dict keys, and a str holding a surrogate pair as
two code points, which JSON would read back as one character) is refused with an
:class:`~squall.errors.EncodeError` naming where it was found. Nothing is ever pickled or evaluated.

Decoding is total: :func:`loads` returns a value or raises ValueError, whatever the input. It reads UTF-8
(bytes in any other encoding are refused), and refuses what :func:`dumps` never writes: NaN, infinities and
numbers too large for a float, duplicate keys in one object (parsers disagree on which one wins), a tagged
object with keys other than the tag and ``"v"``, a tag's value of the wrong type (every tag but ``dict``
carries a string), non-finite decimals, and a ``dict`` tag whose value is not a list of ``[str key, value]``
pairs with distinct keys.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
import reprlib
import uuid
from collections import Counter
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeGuard

from squall.errors import EncodeError

TAG = "__squall__"
#: Characters no message body may hold raw (see :func:`wire_text`).
_UNSENDABLE = re.compile("[\ud800-\udfff\ufffe\uffff]")
#: A high surrogate code point followed by a low one: written as two escapes, JSON reads back one character.
_SPLIT_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_INT_TEXT_BITS = 14_000
#: Deepest nesting of lists and dicts the encoder accepts (and :func:`too_deep` measures). :func:`loads` is
#: bounded by the parser's own recursion limit instead, and deeper input becomes a ValueError (so a
#: DecodeError, never a RecursionError escaping the worker); the envelope applies this limit to arguments.
MAX_DEPTH = 100
#: Longest piece of offending input quoted in an error message, in characters.
_QUOTE_CHARS = 80


def _decimal(text: str) -> Decimal:
    value = Decimal(text)
    if not value.is_finite():
        raise ValueError(f"Decimal {value} is not finite")
    return value


#: Decoders of the tags whose value is a string; each raises ValueError or InvalidOperation on bad text.
_DECODERS: dict[str, Callable[[str], Any]] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "uuid": uuid.UUID,
    "decimal": _decimal,
    "bytes": lambda v: base64.b64decode(v, validate=True),
}


#: Every tag a tagged value may carry (the string-valued ones, then ``dict``), as docs/wire-format.md lists them.
TAGS = (*_DECODERS, "dict")


def to_json_ready(value: Any, path: str, depth: int = 0) -> Any:
    """Return ``value`` as plain JSON-ready data, or raise EncodeError naming ``path``."""
    if depth == 0 and _plain(value, 0):  # most values: checked once, without building a path per item
        return value
    if isinstance(value, str):
        check_text(value, path)
        return value
    if value is None or isinstance(value, bool):
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
            check_text(key, f"{path} key {key!r}")
            out[key] = to_json_ready(item, f"{path}[{key!r}]", depth + 1)
        return escape_tag_key(out)
    return _tagged(value, path)


def _plain(value: Any, depth: int) -> bool:
    """Whether ``value`` is already what :func:`to_json_ready` would return, unchanged: JSON's own types exactly
    (no subclasses), text that reads back as itself, finite floats, ints JSON can write, str keys, no tag key,
    within the depth limit. Anything else takes the full walk, which names the path of what it refuses."""
    kind = type(value)
    if kind is str:
        return bool(value.isascii() or _SPLIT_PAIR.search(value) is None)
    if value is None or kind is bool:
        return True
    if kind is int:
        return bool(value.bit_length() <= _INT_TEXT_BITS)
    if kind is float:
        return math.isfinite(value)
    if depth >= MAX_DEPTH:
        return False
    if kind is list:
        return all(_plain(item, depth + 1) for item in value)
    if kind is dict:
        if TAG in value:
            return False
        for key, item in value.items():
            if type(key) is not str or not _plain(key, depth) or not _plain(item, depth + 1):
                return False
        return True
    return False


def check_text(text: str, path: str) -> None:
    """Refuse a str that would not read back as itself: one holding a surrogate pair as two code points."""
    pair = None if text.isascii() else _SPLIT_PAIR.search(text)
    if pair is not None:
        joined = pair.group().encode("utf-16", "surrogatepass").decode("utf-16")
        raise EncodeError(
            path,
            f"the str holds the surrogates {pair.group()!r} as two code points, which JSON reads back as the one "
            f"character {joined!r}: join them first (text.encode('utf-16', 'surrogatepass').decode('utf-16'))",
        )


def escape_tag_key(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` (already JSON-ready), as a tagged ``dict`` if it holds the tag key, so it is never misread."""
    if TAG in obj:
        return {TAG: "dict", "v": [[k, v] for k, v in obj.items()]}
    return obj


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


def _object(pairs: list[tuple[str, Any]]) -> Any:
    """One decoded JSON object: refused if it repeats a key, restored if it is a tagged value."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        repeated = Counter(key for key, _item in pairs).most_common(1)[0][0]
        raise ValueError(f"duplicate key {short_repr(repeated)} in a JSON object")
    if TAG not in obj:
        return obj
    tag = obj[TAG]
    name = short_repr(tag)
    if set(obj) != {TAG, "v"}:
        extra = sorted(set(obj) - {TAG, "v"})
        problem = "has no 'v'" if "v" not in obj else f"has unexpected keys {short_repr(extra)}"
        raise ValueError(f"tagged value {name} {problem}: a tagged value is exactly {{{TAG!r}: tag, 'v': value}}")
    value = obj["v"]
    if tag == "dict":
        return _escaped_dict(value)
    decoder = _DECODERS.get(tag) if isinstance(tag, str) else None
    if decoder is None:
        raise ValueError(f"unknown value tag {name}")
    if not isinstance(value, str):
        raise ValueError(f"tagged value {name} must carry a string, got {type(value).__name__}")
    try:
        return decoder(value)
    except (ValueError, InvalidOperation) as exc:  # binascii.Error is a ValueError
        raise ValueError(f"tagged value {name} holds {short_repr(value)}, which is not a valid {tag}") from exc


def _escaped_dict(value: Any) -> dict[str, Any]:
    """A user dict that held the tag key, from its ``[[key, value], ...]`` form."""
    if not isinstance(value, list):
        raise ValueError(f"tagged value 'dict' must carry a list of [key, value] pairs, got {type(value).__name__}")
    out: dict[str, Any] = {}
    for index, pair in enumerate(value):
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise ValueError(f"tagged value 'dict' item {index} is {short_repr(pair)}, not a [str key, value] pair")
        key, item = pair
        if key in out:
            raise ValueError(f"tagged value 'dict' repeats the key {short_repr(key)}")
        out[key] = item
    return out


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {short_repr(text)} is too large for a float")
    return value


def short_repr(value: object) -> str:
    """A short repr of untrusted input, for error messages: bounded work and length however large or deep."""
    return _REPR.repr(value)


def is_int(value: object) -> TypeGuard[int]:
    """Whether ``value`` is a JSON integer: an int and not a bool (``True == 1`` in Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests lists and dicts more than ``limit`` deep (what :func:`to_json_ready` refuses)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, (list, dict)):
            continue
        if depth >= limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (list, dict)))
    return False


def compact(doc: Any) -> str:
    """``doc`` (already JSON-ready) as compact JSON text that SQS and DynamoDB can carry."""
    return wire_text(_ENCODER.encode(doc))


def dumps(value: Any, path: str = "value") -> str:
    """Encode ``value`` to compact JSON text, refusing what JSON cannot carry faithfully."""
    return compact(to_json_ready(value, path))


def wire_text(text: str) -> str:
    """JSON text with the characters SQS, DynamoDB and UTF-8 cannot carry written as ``\\uXXXX`` escapes.

    Lone surrogates (a Python str may hold them; UTF-8 cannot) and U+FFFE/U+FFFF (outside the XML character
    set SQS accepts) can only occur inside JSON strings, where the escape decodes to the same value.
    """
    if text.isascii():
        return text
    return _UNSENDABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def loads(text: str | bytes) -> Any:
    """Decode JSON text written by :func:`dumps`, restoring tagged values.

    Raises ValueError on anything malformed, whatever the input: over-deep nesting, bytes that are not
    UTF-8, and everything :func:`dumps` never writes (see the module docstring).
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")  # UnicodeDecodeError is a ValueError; json.loads would guess UTF-16/32
    if not isinstance(text, str):
        raise ValueError(f"JSON text must be str or bytes, not {type(text).__name__}")
    if text.startswith("\ufeff"):  # as json.loads refuses it
        raise ValueError("Unexpected UTF-8 BOM (decode using utf-8-sig)")
    try:
        return _DECODER.decode(text)
    except RecursionError as exc:
        raise ValueError(f"JSON nested too deeply to decode (over {MAX_DEPTH} levels)") from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _make_repr() -> reprlib.Repr:
    short = reprlib.Repr()
    short.maxlevel = 3
    short.maxstring = short.maxother = short.maxlong = _QUOTE_CHARS
    short.maxlist = short.maxdict = short.maxtuple = 4
    return short


_REPR = _make_repr()
#: Built once: json.dumps and json.loads with options build an encoder or decoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_float=_finite_float, parse_constant=_refuse_constant)
