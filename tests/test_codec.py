"""The JSON codec: what round-trips, what is refused (naming where), and that nothing else gets through."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.errors import EncodeError
from squall.wire import codec

BERLIN = ZoneInfo("Europe/Berlin")


def round_trip(value: Any) -> Any:
    return codec.loads(codec.dumps(value))


def assert_same(actual: Any, expected: Any) -> None:
    """Equal, and of the same type all the way down (so True never passes for 1, nor 1 for 1.0)."""
    if isinstance(expected, tuple):
        expected = list(expected)
    assert type(actual) is type(expected), f"{actual!r} is {type(actual).__name__}, expected {expected!r}"
    if isinstance(expected, list):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert_same(a, e)
    elif isinstance(expected, dict):
        assert list(actual) == list(expected)
        for key in expected:
            assert_same(actual[key], expected[key])
    elif isinstance(expected, float) and math.isnan(expected):
        raise AssertionError("NaN must never be encoded")
    else:
        assert actual == expected
        if isinstance(expected, (dt.datetime, dt.time)):
            assert actual.utcoffset() == expected.utcoffset()


# --- round trips ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC), id="aware-utc-datetime"),
        pytest.param(
            dt.datetime(2026, 3, 29, 1, 30, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=-7))), id="aware-offset"
        ),
        pytest.param(dt.datetime(2026, 3, 29, 1, 30, 5, 123456), id="naive-datetime"),
        pytest.param(dt.date(2026, 2, 28), id="date"),
        pytest.param(dt.time(23, 59, 59, 999999), id="naive-time"),
        pytest.param(dt.time(8, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))), id="aware-time"),
        pytest.param(uuid.UUID("12345678-1234-5678-1234-567812345678"), id="uuid"),
        pytest.param(Decimal("19.990"), id="decimal"),
        pytest.param(Decimal("-1E+30"), id="decimal-exponent"),
        pytest.param(b"\x00\xffbytes\n", id="bytes"),
        pytest.param(b"", id="empty-bytes"),
        pytest.param({"a": [1, 2.5, None, True, "x"], "b": {"c": []}}, id="plain-json"),
        pytest.param(
            {
                "when": [dt.date(2026, 1, 1), {"at": dt.time(12, 0)}],
                "ids": [uuid.UUID(int=7)],
                "amount": Decimal("0.1"),
            },
            id="nested-tagged",
        ),
    ],
)
def test_value_round_trips_with_its_type(value: Any) -> None:
    # When
    decoded = round_trip(value)

    # Then
    assert_same(decoded, value)


def test_naive_datetime_stays_naive() -> None:
    assert round_trip(dt.datetime(2026, 1, 1, 12, 0)).tzinfo is None


def test_decimal_keeps_its_exact_digits() -> None:
    assert str(round_trip(Decimal("1.10"))) == "1.10"


def test_zoned_datetime_keeps_its_instant_and_offset_but_not_its_zone_name() -> None:
    # Given a datetime in a named zone (documented: the offset travels, the IANA name does not)
    value = dt.datetime(2026, 7, 1, 9, 0, tzinfo=BERLIN)

    # When
    decoded = round_trip(value)

    # Then
    assert decoded == value
    assert decoded.utcoffset() == dt.timedelta(hours=2)


def test_tuples_travel_as_lists() -> None:
    assert round_trip((1, (2, 3))) == [1, [2, 3]]


def test_tags_lists_every_tag_the_encoder_writes() -> None:
    # Given one value of each type that travels tagged
    values = [
        dt.datetime(2026, 1, 1),
        dt.date(2026, 1, 1),
        dt.time(1),
        uuid.UUID(int=1),
        Decimal(1),
        b"",
        {codec.TAG: 1},
    ]

    # Then their tags are exactly the published ones, in order
    assert tuple(codec.to_json_ready(value, "value")[codec.TAG] for value in values) == codec.TAGS


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"__squall__": "datetime", "v": "2026-01-01T00:00:00"}, id="looks-tagged"),
        pytest.param({"__squall__": "no-such-tag"}, id="unknown-tag"),
        pytest.param({"__squall__": {"__squall__": 1}, "v": [1]}, id="nested-tag-key"),
        pytest.param({"__squall__": "dict", "v": [["__squall__", 1]]}, id="looks-like-escaped-dict"),
        pytest.param([{"x": {"__squall__": None}}], id="deep-inside"),
    ],
)
def test_user_dict_holding_the_tag_key_round_trips(value: Any) -> None:
    # When a user's own data uses the tag key, it must never be misread as a tagged value
    decoded = round_trip(value)

    # Then
    assert_same(decoded, value)


# --- refusals name where -----------------------------------------------------------------------------


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "path", "problem"),
    [
        pytest.param({1, 2}, "argument 'x'", "set", id="set"),
        pytest.param(frozenset(), "argument 'x'", "frozenset", id="frozenset"),
        pytest.param(object(), "argument 'x'", "object", id="object"),
        pytest.param(math.nan, "argument 'x'", "finite", id="nan"),
        pytest.param(-math.inf, "argument 'x'", "finite", id="inf"),
        pytest.param(Decimal("NaN"), "argument 'x'", "not finite", id="decimal-nan"),
        pytest.param(Decimal("Infinity"), "argument 'x'", "not finite", id="decimal-inf"),
        pytest.param({1: "a"}, "argument 'x'", "must be str", id="int-key"),
        pytest.param({("a",): "a"}, "argument 'x'", "must be str", id="tuple-key"),
        pytest.param({"a": [1, {"b": {2}}]}, "argument 'x'['a'][1]['b']", "set", id="set-deep-inside"),
        pytest.param([1, 2, math.inf], "argument 'x'[2]", "finite", id="inf-in-list"),
        pytest.param(nested(codec.MAX_DEPTH + 1), "argument 'x'", "deeper than", id="too-deep"),
        pytest.param(complex(1, 2), "argument 'x'", "complex", id="complex"),
    ],
)
def test_value_json_cannot_carry_is_refused_naming_where(value: Any, path: str, problem: str) -> None:
    # When
    with pytest.raises(EncodeError) as refused:
        codec.dumps(value, "argument 'x'")

    # Then
    assert refused.value.path.startswith(path)
    assert problem in refused.value.problem
    assert str(refused.value).startswith(refused.value.path)


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert round_trip(nested(codec.MAX_DEPTH - 1)) == nested(codec.MAX_DEPTH - 1)


def test_set_refusal_says_what_to_do() -> None:
    with pytest.raises(EncodeError, match="sorted list"):
        codec.dumps({3, 1})


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"__squall__": "pickle", "v": "gASV"}', id="unknown-tag"),
        pytest.param('{"__squall__": "bytes", "v": "not base64!"}', id="bad-base64"),
        pytest.param('{"__squall__": "decimal", "v": "one"}', id="bad-decimal"),
        pytest.param('{"__squall__": "uuid", "v": "nope"}', id="bad-uuid"),
        pytest.param('{"__squall__": "datetime", "v": "yesterday"}', id="bad-datetime"),
        pytest.param('{"__squall__": "date"}', id="tag-without-value"),
        pytest.param('{"__squall__": "dict", "v": 5}', id="bad-escaped-dict"),
        pytest.param('{"__squall__": 5, "v": 1}', id="non-string-tag"),
        pytest.param("[NaN]", id="nan-constant"),
        pytest.param("Infinity", id="infinity-constant"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="deep-nesting"),
        pytest.param("{", id="truncated"),
    ],
)
def test_malformed_text_is_refused_with_value_error(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the contract is "ValueError, nothing else"
        codec.loads(text)


# --- the round-trip property -------------------------------------------------------------------------

# Whole-second UTC offsets (historical LMT offsets have seconds). Python accepts microsecond offsets too,
# but CPython 3.11's fromisoformat drops their fraction; no real time zone has one.
offsets = st.builds(
    lambda seconds: dt.timezone(dt.timedelta(seconds=seconds)), st.integers(min_value=-86_399, max_value=86_399)
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.datetimes(),
    st.datetimes(timezones=offsets),
    st.dates(),
    st.times(),
    st.times(timezones=offsets),
    st.uuids(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.binary(),
)
keys = st.one_of(st.text(max_size=8), st.sampled_from([codec.TAG, "v"]))
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=100)
@given(values)
def test_every_supported_value_round_trips(value: Any) -> None:
    assert_same(round_trip(value), value)


@settings(max_examples=100)
@given(st.text())
def test_loads_of_any_text_returns_or_raises_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):  # the one error the contract allows
        codec.loads(text)


@settings(max_examples=100)
@given(st.binary())
def test_loads_of_any_bytes_returns_or_raises_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):  # the one error the contract allows
        codec.loads(data)


# Every tag, with a value of every JSON shape (and tagged values inside): what a hostile producer can write.
any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=8,
)
tags = st.sampled_from(["datetime", "date", "time", "uuid", "decimal", "bytes", "dict"]) | any_json
tagged_objects = st.recursive(
    st.builds(lambda tag, value: {codec.TAG: tag, "v": value}, tags, any_json),
    lambda inner: (
        st.builds(lambda tag, value: {codec.TAG: tag, "v": value}, tags, inner | st.lists(inner, max_size=2))
        | st.lists(st.tuples(st.text(max_size=3) | inner, inner).map(list), max_size=3).map(
            lambda v: {codec.TAG: "dict", "v": v}
        )
    ),
    max_leaves=6,
)


@settings(max_examples=300)
@given(tagged_objects)
def test_loads_of_any_tagged_object_returns_or_raises_value_error(value: Any) -> None:
    with contextlib.suppress(ValueError):  # the one error the contract allows
        codec.loads(json.dumps(value))


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"__squall__": "uuid", "v": 1}', id="uuid-int"),
        pytest.param('{"__squall__": "uuid", "v": [1]}', id="uuid-list"),
        pytest.param('{"__squall__": "uuid", "v": null}', id="uuid-null"),
        pytest.param('{"__squall__": "decimal", "v": 1.5}', id="decimal-float"),
        pytest.param('{"__squall__": "decimal", "v": [0, [1], 0]}', id="decimal-tuple-form"),
        pytest.param('{"__squall__": "decimal", "v": "NaN"}', id="decimal-nan"),
        pytest.param('{"__squall__": "decimal", "v": "-Infinity"}', id="decimal-infinity"),
        pytest.param('{"__squall__": "datetime", "v": 1763900000}', id="datetime-number"),
        pytest.param('{"__squall__": "bytes", "v": true}', id="bytes-bool"),
        pytest.param('{"__squall__": "dict", "v": [[1, 2]]}', id="dict-int-key"),
        pytest.param('{"__squall__": "dict", "v": ["ab"]}', id="dict-string-pair"),
        pytest.param('{"__squall__": "dict", "v": {"ab": 1}}', id="dict-object"),
        pytest.param('{"__squall__": "dict", "v": [["a", 1], ["a", 2]]}', id="dict-repeated-key"),
        pytest.param('{"__squall__": "uuid", "v": "12345678-1234-5678-1234-567812345678", "w": 1}', id="extra-key"),
        pytest.param('{"a": 1, "a": 2}', id="duplicate-key"),
        pytest.param("[1e999]", id="float-overflow"),
        pytest.param("-1e400", id="negative-float-overflow"),
        pytest.param("1" * 4_301, id="int-past-the-digit-limit"),
    ],
)
def test_value_dumps_never_writes_is_refused_with_value_error(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the contract is "ValueError, nothing else"
        codec.loads(text)


@pytest.mark.parametrize(
    "data", ['"é"'.encode("utf-16"), '"é"'.encode("latin-1"), b'"\xed\xa0\x80"'], ids=["utf-16", "latin-1", "cesu"]
)
def test_bytes_that_are_not_utf8_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match="utf-8"):
        codec.loads(data)


def test_utf8_bytes_are_read() -> None:
    assert codec.loads('["é"]'.encode()) == ["é"]


def test_error_about_a_huge_value_stays_short() -> None:
    with pytest.raises(ValueError) as refused:  # noqa: PT011
        codec.loads(json.dumps({codec.TAG: "uuid", "v": "x" * 1_000_000}))

    assert "'uuid'" in str(refused.value)
    assert len(str(refused.value)) < 300


@pytest.mark.parametrize(
    ("value", "deep"),
    [
        pytest.param(nested(codec.MAX_DEPTH), False, id="at-the-limit"),
        pytest.param(nested(codec.MAX_DEPTH + 1), True, id="past-the-limit"),
        pytest.param({"a": [{"b": nested(codec.MAX_DEPTH - 3)}]}, False, id="mixed-at-the-limit"),
        pytest.param({"a": [{"b": nested(codec.MAX_DEPTH - 2)}]}, True, id="mixed-past-the-limit"),
        pytest.param("[" * 500, False, id="a-string"),
    ],
)
def test_too_deep_measures_nesting_as_the_encoder_does(value: Any, deep: bool) -> None:
    # Then too_deep agrees with the encoder, which refuses exactly what is too deep
    assert codec.too_deep(value) is deep
    try:
        codec.dumps(value)
    except EncodeError:
        refused = True
    else:
        refused = False
    assert refused is deep
