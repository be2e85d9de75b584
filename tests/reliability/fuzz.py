"""Hypothesis strategies for valid-but-dangerous envelopes, and the example count every fuzz test uses.

A dangerous envelope is structurally valid — a JSON object with every required field — except that one
field, or one value somewhere inside the arguments, is hostile: a huge or extreme number, a tagged value
whose payload has the wrong type, an eta far outside what a clock or DynamoDB can hold, nesting just
under and past the limits, a long string, a Unicode edge case, a repeated key, a byte that is not UTF-8.
Dangerous values are JSON *text* fragments, not Python values, so that they can hold what ``json.dumps``
never writes (``1e999``, a 5,000-digit integer, ``NaN``, a lone surrogate escape, a duplicate key).

How many examples: ``SQUALL_FUZZ_EXAMPLES`` (default :data:`DEFAULT_EXAMPLES`, a few seconds on CI).
Long mode, before a release or after changing the codec::

    SQUALL_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/reliability/test_dangerous_envelopes.py -q
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from squall.limits import ENVELOPE_VERSION, MAX_RETRIES_CEILING, MAX_TASK_ID_CHARS
from squall.wire import codec

#: Examples per fuzz test when SQUALL_FUZZ_EXAMPLES is unset.
DEFAULT_EXAMPLES = 200
#: The environment variable that sets the number of examples.
EXAMPLES_VARIABLE = "SQUALL_FUZZ_EXAMPLES"


def examples(default: int = DEFAULT_EXAMPLES) -> int:
    """Examples per fuzz test: ``SQUALL_FUZZ_EXAMPLES`` if set (a positive integer), else ``default``."""
    raw = os.environ.get(EXAMPLES_VARIABLE, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{EXAMPLES_VARIABLE}={raw!r}: give a positive number of examples, e.g. 20000")
    return int(raw)


def fuzz_settings(default: int = DEFAULT_EXAMPLES) -> settings:
    """Hypothesis settings for a fuzz test: the configured example count, no deadline, no example database."""
    return settings(
        max_examples=examples(default),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


def text_of(value: Any) -> str:
    """``value`` as a JSON text fragment (escaped to ASCII, so that lone surrogates survive as escapes)."""
    return json.dumps(value)


# --- dangerous scalars, as JSON text ---------------------------------------------------------------------

#: Characters at the edges of Unicode and of what SQS, DynamoDB and UTF-8 carry.
EDGE_CHARACTERS = [
    "\u0000",  # NUL
    "\u001f",  # a C0 control
    "\u007f",  # DEL
    "\u0085",  # NEL, a line break to some parsers
    "\u2028",  # LINE SEPARATOR (not valid raw in JavaScript strings before ES2019)
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u200b",  # ZERO WIDTH SPACE
    "\ufeff",  # BOM
    "\ufffe",  # a non-character, outside XML's character set
    "\uffff",
    "e\u0301",  # a combining sequence
    "\U0001f600",  # outside the BMP: a surrogate pair in UTF-16
    "\U0010ffff",  # the last code point
    "\ud800",  # lone surrogates: a Python str holds them, UTF-8 cannot
    "\udfff",
    "\ude00\ud83d",  # a surrogate pair in the wrong order
]

edge_strings = st.lists(st.sampled_from(EDGE_CHARACTERS) | st.text(max_size=3), min_size=1, max_size=6).map("".join)
long_strings = st.tuples(st.sampled_from(["x", "é", "\U0001f600", "\\", '"', "\ud800"]), st.integers(1, 200_000)).map(
    lambda pair: pair[0] * pair[1]
)
#: A string, written escaped or raw (a raw lone surrogate makes a str no encoder writes).
dangerous_strings = st.one_of(
    (edge_strings | long_strings).map(text_of),
    edge_strings.map(lambda s: json.dumps(s, ensure_ascii=False)),
)


def digits(count: int, sign: str = "") -> str:
    """An integer literal of ``count`` digits."""
    return sign + "9" * count if count else "0"


#: Integer literals around every boundary that matters: int64, DynamoDB's 38 digits and 1E+126, Python's
#: 4,300-digit text limit (a longer literal cannot be parsed at all) and far past it.
huge_ints = st.one_of(
    st.sampled_from([18, 19, 37, 38, 39, 125, 126, 127, 300, 400, 4_299, 4_300, 4_301, 10_000]).flatmap(
        lambda n: st.sampled_from([digits(n), digits(n, "-"), "1" + "0" * n])
    ),
    st.integers(0, 5_000).map(digits),
    st.integers().map(str),
)
#: Float literals at the edges of float and of DynamoDB's range, and JSON's forbidden constants.
extreme_floats = st.one_of(
    st.sampled_from(
        [
            "1e308",
            "1.7976931348623157e308",
            "1e309",
            "-1e309",
            "1e999",
            "5e-324",
            "1e-400",
            "1e-130",
            "1e-131",
            "9.9999999999999999999999999999999999999e125",
            "1e126",
            "-0.0",
            "0e0",
            "1" * 400 + ".5",
            "NaN",
            "Infinity",
            "-Infinity",
        ]
    ),
    st.floats().map(json.dumps),  # NaN and infinities become their (refused) literals
)
numbers = huge_ints | extreme_floats

#: Times: epoch seconds far and near, and ISO texts shaped like the Scheduler's.
LATEST_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z
extreme_times = st.one_of(
    numbers,
    st.sampled_from([0, -1, 1, LATEST_EPOCH, LATEST_EPOCH + 1, -62_135_596_800, 10**11, 10**13]).map(str),
    st.floats(-1e13, 1e13).map(repr),
    st.sampled_from(
        [
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59.999999Z",
            "0001-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2026-02-30T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00." + "0" * 10_000 + "Z",
        ]
    ).map(text_of),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,12})?Z", fullmatch=True).map(
        text_of
    ),
)

# --- tagged values, right and wrong -----------------------------------------------------------------------

STRING_TAGS = ("datetime", "date", "time", "uuid", "decimal", "bytes")


def tagged(tag: str, value_text: str) -> str:
    """A tagged object's text, its value given as text."""
    return f'{{"{codec.TAG}":{text_of(tag)},"v":{value_text}}}'


#: Payload texts of every JSON type: each is wrong for some tag (a string is wrong for ``dict``).
wrong_payloads = st.one_of(
    st.sampled_from(["1", "1.5", "true", "false", "null", "[]", "{}", '["a"]', '{"v":"a"}', "[[1,2]]"]),
    numbers,
    st.sampled_from(STRING_TAGS).map(lambda tag: tagged(tag, '"2026-01-01"')),
    dangerous_strings,
)
#: Text that is well-typed (a string) but edge-valued for the tag: valid, invalid, or at a range's end.
EDGE_TEXTS = {
    "datetime": ["9999-12-31T23:59:59.999999+23:59", "0001-01-01T00:00:00-23:59", "2026-01-01T00:00:00+24:00"],
    "date": ["9999-12-31", "0001-01-01", "0000-01-01", "2026-02-29"],
    "time": ["23:59:59.999999+23:59", "24:00:00", "00:00:00-23:59"],
    "uuid": [str(uuid.UUID(int=0)), "{" + str(uuid.UUID(int=1)) + "}", "urn:uuid:" + str(uuid.UUID(int=2)), "0" * 32],
    "decimal": ["1e999999999999999999", "-0", "1e-999999999", "9" * 100_000, "NaN", "sNaN", "1_000", " 1 "],
    "bytes": ["", "====", "AA==", "A" * 200_000, "AA==AA=="],
}
tagged_values = st.one_of(
    st.tuples(st.sampled_from([*STRING_TAGS, "dict"]), wrong_payloads).map(lambda pair: tagged(*pair)),
    st.sampled_from(STRING_TAGS).flatmap(
        lambda tag: st.sampled_from(EDGE_TEXTS[tag]).map(lambda text: tagged(tag, text_of(text)))
    ),
    st.sampled_from(
        [
            tagged("dict", '[["a",1],["a",2]]'),
            tagged("dict", '[["__squall__",1]]'),  # the escape of a user dict holding the tag key: valid
            tagged("dict", '[["a"]]'),
            tagged("dict", '[["a",1,2]]'),
            tagged("dict", "[[null,1]]"),
            tagged("dict", '"ab"'),
            f'{{"{codec.TAG}":"uuid"}}',
            f'{{"{codec.TAG}":"uuid","v":"{uuid.UUID(int=3)}","w":1}}',
            f'{{"{codec.TAG}":null,"v":1}}',
            f'{{"{codec.TAG}":{text_of("x" * 10_000)},"v":1}}',
            f'{{"{codec.TAG}":"pickle","v":"gASV"}}',
        ]
    ),
)

# --- nesting and repeated keys ------------------------------------------------------------------------------

MAX_DEPTH = codec.MAX_DEPTH


def nested_text(depth: int, shape: str, leaf: str = "0") -> str:
    """``leaf`` inside ``depth`` lists, objects, or both alternately."""
    openers = {"list": ("[", "]"), "object": ('{"a":', "}")}
    text = leaf
    for level in range(depth):
        kind = shape if shape != "mixed" else ("list", "object")[level % 2]
        opener, closer = openers[kind]
        text = opener + text + closer
    return text


deep_values = st.builds(
    nested_text,
    st.sampled_from([MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 2, 500, 990, 1_010, 5_000]),
    st.sampled_from(["list", "object", "mixed"]),
    st.sampled_from(["0", "[]", "{}", '"x"']),
)
repeated_keys = st.sampled_from(
    ['{"a":1,"a":2}', '{"a":1,"b":2,"a":1}', '{"":1,"":1}', '{"é":1,"\\u00e9":2}', '[{"x":{"k":1,"k":1}}]']
)

# --- values to put anywhere an argument goes ---------------------------------------------------------------

dangerous_leaves = st.one_of(numbers, dangerous_strings, tagged_values, deep_values, repeated_keys)


def _container(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    keys = st.one_of(st.text(max_size=4), edge_strings, st.just(codec.TAG), st.just("v")).map(text_of)
    lists = st.lists(children, max_size=3).map(lambda items: "[" + ",".join(items) + "]")
    objects = st.dictionaries(keys, children, max_size=3).map(
        lambda items: "{" + ",".join(f"{k}:{v}" for k, v in items.items()) + "}"
    )
    return lists | objects


#: One dangerous value, alone or inside a few levels of ordinary lists and objects.
dangerous_values = st.recursive(dangerous_leaves, _container, max_leaves=4)

# --- the envelope's own fields ------------------------------------------------------------------------------

#: For each field, texts that are dangerous there (on top of any dangerous value).
FIELD_VALUES: dict[str, st.SearchStrategy[str]] = {
    "v": st.sampled_from(["1", "1.0", "1e0", "true", '"1"', "-0", "2", digits(400), "null", "[1]"]),
    "id": st.one_of(
        st.sampled_from(["a" * MAX_TASK_ID_CHARS, "a" * (MAX_TASK_ID_CHARS + 1), "a\u0000", "é", "a b"]).map(text_of),
        dangerous_strings,
    ),
    "task": st.one_of(
        st.sampled_from(["t" * 256, "t" * 257, "a.<locals>.b", "a\nb", "os.system"]).map(text_of), dangerous_strings
    ),
    "queue": st.one_of(
        st.sampled_from(["", "q" * 80, "q" * 81, "default ", "reports", "../default"]).map(text_of), dangerous_strings
    ),
    "created": extreme_times,
    "eta": extreme_times,
    "redrives": st.one_of(
        st.sampled_from(["0", "-1", "1.0", "true", str(10**38 - 1), str(10**38), '"2"']), huge_ints, extreme_floats
    ),
    "max_retries": st.one_of(
        st.sampled_from(["0", "-1", str(MAX_RETRIES_CEILING), str(MAX_RETRIES_CEILING + 1), "3.0", "true", "null"]),
        huge_ints,
        extreme_floats,
    ),
    "args": st.sampled_from(["[]", "{}", "null", '"abc"', tagged("dict", "[]")]),
    "kwargs": st.sampled_from(["{}", "[]", "null", tagged("dict", '[["a",1]]'), tagged("dict", '[["__squall__",1]]')]),
}

_HOLE = "@@dangerous@@"


def base_doc() -> dict[str, Any]:
    """An envelope that decodes: every field set, with ordinary arguments."""
    return {
        "v": ENVELOPE_VERSION,
        "id": "fuzz-1",
        "task": "fuzz.echo",
        "args": [1, "two", [3.5, None]],
        "kwargs": {"flag": True, "when": {codec.TAG: "date", "v": "2026-01-02"}},
        "queue": "default",
        "created": 1_763_900_000.25,
        "eta": 1_763_900_900.0,
        "redrives": 1,
        "max_retries": 2,
    }


def _with_hole(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """The base envelope with a hole where the dangerous text goes, and the text for it."""
    doc = base_doc()
    where = draw(st.sampled_from(["field", "unknown-field", "argument", "keyword", "inside-argument"]))
    if where == "field":
        name = draw(st.sampled_from(sorted(FIELD_VALUES)))
        doc[name] = _HOLE
        return doc, draw(FIELD_VALUES[name] | dangerous_values)
    if where == "unknown-field":
        doc[draw(st.sampled_from(["trace", "priority", "x" * 1_000, codec.TAG]))] = _HOLE
    elif where == "argument":
        doc["args"].insert(draw(st.integers(0, len(doc["args"]))), _HOLE)
    elif where == "keyword":
        doc["kwargs"][draw(st.text(max_size=4) | edge_strings)] = _HOLE
    else:
        doc["args"][2] = [{"deep": [_HOLE]}]
    return doc, draw(dangerous_values)


@st.composite
def dangerous_bodies(draw: st.DrawFn) -> str | bytes:
    """A message body: an otherwise valid envelope with one dangerous field or nested value, as text or bytes."""
    doc, text = _with_hole(draw)
    body = json.dumps(doc, ensure_ascii=draw(st.booleans())).replace(text_of(_HOLE), text, 1)
    # Now and then a field written twice: the second copy is what a last-wins parser would read.
    body = draw(st.sampled_from(["{", "{", "{", "{", '{"v":1,', '{"task":"x",', '{"id":"fuzz-2",'])) + body[1:]
    form = draw(st.sampled_from(["str", "str", "bytes", "bad-byte"]))
    if form == "str":
        return body
    raw = body.encode("utf-8", "surrogatepass")  # a raw lone surrogate becomes bytes UTF-8 does not allow
    if form == "bad-byte":
        at = raw.index(b'"') + 1  # inside the first key: the JSON around it stays whole
        return raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"])) + raw[at:]
    return raw


# --- dangerous Python values, for the encoding side ------------------------------------------------------

python_leaves = st.one_of(
    st.integers(),
    st.sampled_from([4_299, 4_300, 5_000, 63, 38]).map(lambda n: 10**n),  # around Python's int-text limit
    st.floats(),
    edge_strings,
    st.binary(max_size=16),
    st.decimals(),
    st.sampled_from([Decimal("1e999999999999999999"), Decimal("-0"), Decimal("sNaN")]),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
    st.sampled_from([dt.datetime.max, dt.datetime.min.replace(tzinfo=dt.UTC), dt.date.max, dt.time.max]),
    st.uuids(),
    st.none(),
    st.booleans(),
)


def _python_container(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.text(max_size=4) | edge_strings | st.just(codec.TAG)
    return st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3) | st.tuples(children)


python_values = st.recursive(python_leaves, _python_container, max_leaves=6)
python_times = st.one_of(
    st.floats(),
    st.sampled_from([0.0, -1.0, float(LATEST_EPOCH), LATEST_EPOCH + 0.5, 1e300, 5e-324]),
    st.floats(0, 1e12),
)


def nested_python(depth: int) -> Any:
    """0 inside ``depth`` lists."""
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


python_deep = st.sampled_from([MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1]).map(nested_python)

#: The Envelope fields the SDK fills from a caller's input, each with dangerous values.
envelope_fields = st.fixed_dictionaries(
    {},
    optional={
        "args": st.lists(python_values | python_deep, max_size=3).map(tuple),
        "kwargs": st.dictionaries(st.text(max_size=4) | edge_strings | st.just(codec.TAG), python_values, max_size=3),
        "created": python_times,
        "eta": st.none() | python_times,
        "redrives": st.sampled_from([0, 1, -1, 10**38 - 1, 10**38]),
        "max_retries": st.none() | st.integers(-2, MAX_RETRIES_CEILING + 2),
        "queue": st.sampled_from(["default", "", "q" * 80, "q" * 81]) | edge_strings,
    },
)
