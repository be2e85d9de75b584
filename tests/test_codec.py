"""The JSON codec: what round-trips, what is refused (naming where), and that nothing else gets through."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall import codec
from squall.errors import EncodeError

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
