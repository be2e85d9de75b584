"""The envelope: it round-trips, and a malformed body of any shape becomes exactly one DecodeError."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.errors import DecodeError, EncodeError
from squall.limits import ENVELOPE_VERSION, MAX_RETRIES_CEILING, MAX_TASK_ID_CHARS
from squall.wire import codec
from squall.wire.envelope import VERSIONS, Envelope, check_task_id, valid_task_id

#: A reason is stored in DynamoDB and carried as an SQS attribute: it must stay short whatever the body.
MAX_REASON = 1_000


def valid_doc(**fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "v": ENVELOPE_VERSION,
        "id": "task-1",
        "task": "shop.charge",
        "args": ["o-1", 100],
        "kwargs": {"currency": "EUR"},
        "queue": "default",
        "created": 1_763_900_000.5,
    }
    doc.update(fields)
    return doc


def refused(body: str | bytes) -> DecodeError:
    """Decode ``body``, which must fail with DecodeError carrying a short, non-empty reason."""
    with pytest.raises(DecodeError) as caught:
        Envelope.decode(body)
    assert caught.value.reason
    assert str(caught.value) == caught.value.reason
    assert len(caught.value.reason) < MAX_REASON
    return caught.value


# --- round trip ----------------------------------------------------------------------------------------


def test_envelope_round_trips_through_its_body() -> None:
    # Given
    envelope = Envelope(
        id="order-7",
        task="shop.charge",
        args=("o-1", 100, [dt.date(2026, 1, 2)]),
        kwargs={"amount": Decimal("9.99"), "ref": uuid.UUID(int=1), "blob": b"\x00"},
        queue="reports",
        created=1_763_900_000.25,
        eta=1_763_900_900.0,
        redrives=2,
        max_retries=5,
    )

    # When
    decoded = Envelope.decode(envelope.encode())

    # Then
    assert decoded == envelope


def test_body_is_compact_versioned_json_without_unset_fields() -> None:
    body = Envelope(id="a", task="t", created=1.0).encode()

    assert json.loads(body) == {
        "v": 1,
        "id": "a",
        "task": "t",
        "args": [],
        "kwargs": {},
        "queue": "default",
        "created": 1.0,
    }
    assert " " not in body


def test_body_with_every_field_is_the_documented_wire_format() -> None:
    # Given
    envelope = Envelope(
        id="t-1",
        task="shop.charge",
        args=("o-1",),
        kwargs={"n": 2},
        queue="reports",
        created=1_763_900_000.123,
        eta=1_763_900_900.0,
        redrives=1,
        max_retries=5,
    )

    # When
    body = envelope.encode()

    # Then
    assert body == (
        '{"v":1,"id":"t-1","task":"shop.charge","args":["o-1"],"kwargs":{"n":2},"queue":"reports",'
        '"created":1763900000.123,"eta":1763900900.0,"redrives":1,"max_retries":5}'
    )
    assert Envelope.decode(body) == envelope


def test_max_retries_travels_only_when_set() -> None:
    # Given
    default = Envelope(id="a", task="t", created=1.0)
    overridden = Envelope(id="a", task="t", created=1.0, max_retries=0)

    # When
    bodies = json.loads(default.encode()), json.loads(overridden.encode())

    # Then
    assert "max_retries" not in bodies[0]
    assert bodies[1]["max_retries"] == 0
    assert Envelope.decode(overridden.encode()).max_retries == 0
    assert Envelope.decode(default.encode()).max_retries is None


def test_keyword_argument_named_like_the_tag_key_round_trips() -> None:
    envelope = Envelope(id="a", task="t", kwargs={"__squall__": 5, "v": "x"}, created=1.0)

    assert Envelope.decode(envelope.encode()) == envelope


def test_unknown_fields_are_ignored_within_a_version() -> None:
    decoded = Envelope.decode(json.dumps(valid_doc(trace="x-123", priority=5)))

    assert decoded.id == "task-1"


def test_default_names_of_nested_functions_are_task_names() -> None:
    body = json.dumps(valid_doc(task="tests.test_x.make.<locals>.inner"))

    assert Envelope.decode(body).task == "tests.test_x.make.<locals>.inner"


def test_envelope_accepts_bytes() -> None:
    assert Envelope.decode(json.dumps(valid_doc()).encode()).task == "shop.charge"


def test_encode_names_the_argument_that_cannot_be_carried() -> None:
    envelope = Envelope(id="a", task="t", args=(1, {2}), kwargs={"when": object()})

    with pytest.raises(EncodeError, match="argument 'amount'"):
        envelope.encode(arg_names=("order", "amount"))
    with pytest.raises(EncodeError, match=r"argument 'args\[1\]'"):
        envelope.encode()


def test_encode_refuses_a_non_finite_eta() -> None:
    with pytest.raises(EncodeError, match="envelope"):
        Envelope(id="a", task="t", eta=float("inf")).encode()


# --- task ids ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "task_id", ["a", "A9", "order-1", "x_y.z:1@2+3=4/5", "0" * MAX_TASK_ID_CHARS, str(uuid.uuid4())]
)
def test_usable_task_ids(task_id: str) -> None:
    assert valid_task_id(task_id)
    assert check_task_id(task_id) == task_id


@pytest.mark.parametrize(
    "task_id", ["", " a", "a b", "-a", "_a", "a\n", "é", "a" * (MAX_TASK_ID_CHARS + 1), None, 7, ["a"]]
)
def test_unusable_task_ids_are_refused_saying_what_is_allowed(task_id: object) -> None:
    assert not valid_task_id(task_id)
    with pytest.raises(ValueError, match="letters, digits"):
        check_task_id(task_id)


# --- malformed bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param("", "not valid JSON", id="empty"),
        pytest.param("   ", "not valid JSON", id="blank"),
        pytest.param("hello", "not valid JSON", id="text"),
        pytest.param("{'v': 1}", "not valid JSON", id="python-repr"),
        pytest.param(b"\xff\xfe\x00", "not valid JSON", id="not-utf8"),
        pytest.param("null", "not an envelope", id="null"),
        pytest.param("[1, 2]", "not an envelope", id="list"),
        pytest.param('"task"', "not an envelope", id="string"),
        pytest.param("1e999", "not valid JSON", id="huge-number"),
        pytest.param("[" * 50_000 + "]" * 50_000, "not valid JSON", id="deep-nesting"),
        pytest.param('{"v": NaN}', "not valid JSON", id="nan"),
    ],
)
def test_body_that_is_not_an_envelope_object_is_refused(body: str | bytes, reason: str) -> None:
    error = refused(body)

    assert reason in error.reason
    assert error.task_id is None


@pytest.mark.parametrize(
    "version", [None, 0, 3, "1", "2", True, 1.0, 2.0, 1.5, 10**400, [1], {"major": 1}], ids=lambda v: f"v={v!r}"[:20]
)
def test_wrong_version_is_refused_keeping_the_task_id(version: object) -> None:
    error = refused(json.dumps(valid_doc(v=version)))

    assert "version" in error.reason
    assert error.task_id == "task-1"


def test_missing_version_is_refused() -> None:
    doc = valid_doc()
    del doc["v"]

    assert "version" in refused(json.dumps(doc)).reason


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"task": None}, "task", id="task-missing"),
        pytest.param({"task": ""}, "task", id="task-empty"),
        pytest.param({"task": "1abc"}, "task", id="task-bad-start"),
        pytest.param({"task": "a b"}, "task", id="task-space"),
        pytest.param({"task": "a" * 257}, "task", id="task-too-long"),
        pytest.param({"task": 5}, "task", id="task-number"),
        pytest.param({"args": {"a": 1}}, "args", id="args-object"),
        pytest.param({"args": "abc"}, "args", id="args-string"),
        pytest.param({"args": None}, "args", id="args-null"),
        pytest.param({"kwargs": [1]}, "kwargs", id="kwargs-list"),
        pytest.param({"kwargs": None}, "kwargs", id="kwargs-null"),
        pytest.param({"queue": 3}, "queue", id="queue-number"),
        pytest.param({"queue": None}, "queue", id="queue-null"),
        pytest.param({"created": "yesterday"}, "created", id="created-string"),
        pytest.param({"created": True}, "created", id="created-bool"),
        pytest.param({"eta": "soon"}, "eta", id="eta-string"),
        pytest.param({"eta": [1]}, "eta", id="eta-list"),
        pytest.param({"redrives": -1}, "redrives", id="redrives-negative"),
        pytest.param({"redrives": 1.5}, "redrives", id="redrives-float"),
        pytest.param({"redrives": "2"}, "redrives", id="redrives-string"),
        pytest.param({"redrives": True}, "redrives", id="redrives-bool"),
        pytest.param({"redrives": 10**38}, "redrives", id="redrives-past-dynamodb-precision"),
        pytest.param({"redrives": 10**400}, "redrives", id="redrives-huge"),
        pytest.param({"max_retries": -1}, "max_retries", id="max-retries-negative"),
        pytest.param({"max_retries": MAX_RETRIES_CEILING + 1}, "max_retries", id="max-retries-past-ceiling"),
        pytest.param({"max_retries": 3.0}, "max_retries", id="max-retries-float"),
        pytest.param({"max_retries": True}, "max_retries", id="max-retries-bool"),
        pytest.param({"max_retries": "3"}, "max_retries", id="max-retries-string"),
        pytest.param({"max_retries": [3]}, "max_retries", id="max-retries-list"),
        pytest.param({"queue": ""}, "queue", id="queue-empty"),
        pytest.param({"queue": "q" * 81}, "queue", id="queue-too-long"),
        pytest.param({"queue": ["default"]}, "queue", id="queue-list"),
    ],
)
def test_invalid_field_is_refused_naming_it_and_keeping_the_task_id(changes: dict[str, Any], field: str) -> None:
    doc = valid_doc(**changes)
    if changes.get(field, "") is None and field == "task":
        del doc["task"]

    error = refused(json.dumps(doc))

    assert f"'{field}'" in error.reason
    assert error.task_id == "task-1"


def test_infinite_timestamps_are_refused_naming_the_number() -> None:
    body = json.dumps(valid_doc()).replace('"created": 1763900000.5', '"created": 1e999')

    assert "1e999" in refused(body).reason


def test_null_timestamps_read_as_unset() -> None:
    decoded = Envelope.decode(json.dumps(valid_doc(created=None, eta=None)))

    assert decoded.created == 0.0
    assert decoded.eta is None


@pytest.mark.parametrize("field", ["created", "eta"])
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(10**400, id="400-digit-int"),
        pytest.param(10**20, id="int-past-year-9999"),
        pytest.param(1e300, id="1e300"),
        pytest.param(-1e300, id="-1e300"),
        pytest.param(253_402_300_800, id="year-10000"),
        pytest.param(253_402_300_799.5, id="half-a-second-past-9999"),
        pytest.param(-1, id="before-1970"),
        pytest.param(-0.5, id="half-a-second-before-1970"),
        pytest.param(5e-324, id="too-small-for-dynamodb"),
    ],
)
def test_timestamp_datetime_or_dynamodb_cannot_hold_is_refused_naming_it(field: str, value: float) -> None:
    error = refused(json.dumps(valid_doc(**{field: value})))

    assert f"field '{field}'" in error.reason
    assert "1970" in error.reason
    assert error.task_id == "task-1"


@pytest.mark.parametrize("value", [0, 0.0, 1e-130, 1, 253_402_300_799, 253_402_300_799.0])
def test_timestamps_from_1970_to_the_end_of_9999_are_accepted(value: float) -> None:
    decoded = Envelope.decode(json.dumps(valid_doc(created=value, eta=value)))

    assert decoded.created == value
    assert decoded.eta == value
    assert isinstance(decoded.eta, float)


@pytest.mark.parametrize(
    "when", ["9999-12-31T23:59:59.5Z", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z"], ids=lambda w: w[:4]
)
def test_scheduler_time_outside_1970_to_9999_is_refused(when: str) -> None:
    assert "'created'" in refused(json.dumps(valid_doc(created=when))).reason


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"eta": -1.0}, "eta", id="negative-eta"),
        pytest.param({"created": 1e300}, "created", id="huge-created"),
        pytest.param({"created": math.nan}, "created", id="nan-created"),
        pytest.param({"redrives": 10**38}, "redrives", id="redrives"),
        pytest.param({"max_retries": MAX_RETRIES_CEILING + 1}, "max_retries", id="max-retries"),
        pytest.param({"queue": ""}, "queue", id="queue"),
    ],
)
def test_encode_refuses_the_fields_decode_would_refuse(changes: dict[str, Any], field: str) -> None:
    envelope = dataclasses.replace(Envelope(id="a", task="t", created=1.0), **changes)

    with pytest.raises(EncodeError, match=f"'{field}'"):
        envelope.encode()


def test_max_retries_from_zero_to_the_ceiling_and_null_are_accepted() -> None:
    assert Envelope.decode(json.dumps(valid_doc(max_retries=0))).max_retries == 0
    assert Envelope.decode(json.dumps(valid_doc(max_retries=MAX_RETRIES_CEILING))).max_retries == MAX_RETRIES_CEILING
    assert Envelope.decode(json.dumps(valid_doc(max_retries=None))).max_retries is None


def test_redrives_of_38_digits_is_accepted() -> None:
    assert Envelope.decode(json.dumps(valid_doc(redrives=10**38 - 1))).redrives == 10**38 - 1


def test_several_problems_are_all_named() -> None:
    reason = refused(json.dumps(valid_doc(task=1, args=2, kwargs=3))).reason

    assert "'task'" in reason
    assert "'args'" in reason
    assert "'kwargs'" in reason


@pytest.mark.parametrize(
    "task_id", [None, "", " x", "a b", 42, ["a"], "a" * (MAX_TASK_ID_CHARS + 1), "x" * 500_000], ids=repr
)
def test_bad_id_is_refused_without_a_task_id(task_id: object) -> None:
    doc = valid_doc(id=task_id)
    if task_id is None:
        del doc["id"]

    error = refused(json.dumps(doc))

    assert "'id'" in error.reason
    assert error.task_id is None


def test_huge_wrong_version_still_gives_a_short_reason() -> None:
    assert refused(json.dumps(valid_doc(v="9" * 500_000))).task_id == "task-1"


@pytest.mark.parametrize(
    "tagged",
    [
        {"__squall__": "datetime", "v": "x" * 100_000},
        {"__squall__": "bytes", "v": "%%%"},
        {"__squall__": "pickle", "v": "gASV"},
    ],
    ids=["bad-datetime", "bad-bytes", "unknown-tag"],
)
def test_malformed_tagged_argument_is_refused(tagged: dict[str, Any]) -> None:
    refused(json.dumps(valid_doc(args=[tagged])))


STRING_TAGS = ("datetime", "date", "time", "uuid", "decimal", "bytes")
WRONG_PAYLOADS = {
    "int": 1,
    "huge-int": 10**400,
    "float": 1.5,
    "huge-float": 1.7e308,
    "bool": True,
    "null": None,
    "list": ["2026-01-01"],
    "dict": {"v": "2026-01-01"},
    "nested-tagged": {"__squall__": "date", "v": "2026-01-01"},
}


@pytest.mark.parametrize("payload", WRONG_PAYLOADS.values(), ids=WRONG_PAYLOADS.keys())
@pytest.mark.parametrize("tag", STRING_TAGS)
def test_tagged_argument_with_a_payload_of_the_wrong_type_is_refused_naming_the_tag(tag: str, payload: Any) -> None:
    # Given an argument tagged as a type whose value must be a string, carrying something else
    body = json.dumps(valid_doc(args=[{codec.TAG: tag, "v": payload}]))

    # Then
    error = refused(body)
    assert f"'{tag}'" in error.reason
    assert "string" in error.reason
    assert error.task_id == "task-1"


#: Text no tag reads, but "" and "sNaN", which are base64 (of b"" and b"\xb0\xd6\x8d").
GARBAGE_TEXTS = ["", "garbage", "x" * 100_001, "\u0000", "\ud800", "2026-13-45", "NaN", "sNaN", "-Infinity", "1e"]


@pytest.mark.parametrize(
    ("tag", "text"),
    [(tag, text) for tag in STRING_TAGS for text in GARBAGE_TEXTS if tag != "bytes" or text not in ("", "sNaN")],
    ids=lambda v: repr(v)[:12],
)
def test_tagged_argument_with_garbage_text_is_refused_naming_the_tag(tag: str, text: str) -> None:
    error = refused(json.dumps(valid_doc(kwargs={"x": {codec.TAG: tag, "v": text}})))

    assert f"'{tag}'" in error.reason


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(5, id="int"),
        pytest.param("ab", id="string"),
        pytest.param({"ab": 1}, id="object"),
        pytest.param(["ab"], id="list-of-strings"),
        pytest.param([["a"]], id="pair-too-short"),
        pytest.param([["a", 1, 2]], id="pair-too-long"),
        pytest.param([[1, 2]], id="int-key"),
        pytest.param([[None, 2]], id="null-key"),
        pytest.param([[["a"], 2]], id="list-key"),
        pytest.param([["a", 1], ["a", 2]], id="repeated-key"),
        pytest.param(None, id="null"),
    ],
)
def test_escaped_dict_that_is_not_a_list_of_key_value_pairs_is_refused(payload: Any) -> None:
    error = refused(json.dumps(valid_doc(args=[{codec.TAG: "dict", "v": payload}])))

    assert "'dict'" in error.reason


@pytest.mark.parametrize(
    "tagged",
    [
        pytest.param({codec.TAG: "uuid", "v": str(uuid.UUID(int=1)), "extra": 1}, id="extra-key"),
        pytest.param({codec.TAG: "uuid"}, id="no-value"),
        pytest.param({codec.TAG: "x" * 100_000, "v": 1}, id="huge-unknown-tag"),
        pytest.param({codec.TAG: ["uuid"], "v": 1}, id="list-tag"),
        pytest.param({codec.TAG: None, "v": 1}, id="null-tag"),
    ],
)
def test_tagged_object_that_is_not_exactly_a_tag_and_a_value_is_refused(tagged: dict[str, Any]) -> None:
    assert "tag" in refused(json.dumps(valid_doc(args=[tagged]))).reason


@pytest.mark.parametrize(
    "body",
    [
        pytest.param('{"v": 1, "v": 1, "id": "task-1", "task": "t"}', id="top-level"),
        pytest.param('{"v": 1, "id": "task-1", "task": "t", "args": [{"a": 1, "a": 2}]}', id="in-an-argument"),
        pytest.param('{"v": 1, "id": "task-1", "task": "t", "id": "task-2"}', id="two-ids"),
    ],
)
def test_body_repeating_a_key_is_refused(body: str) -> None:
    assert "duplicate key" in refused(body).reason


def nested_list(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def test_argument_nested_past_the_encoders_limit_is_refused_naming_it() -> None:
    too_deep = json.dumps(valid_doc(args=[1], kwargs={"tree": nested_list(codec.MAX_DEPTH + 1)}))

    assert "argument 'tree' is nested too deeply" in refused(too_deep).reason


def test_argument_nested_to_the_encoders_limit_is_accepted_and_re_encodes() -> None:
    decoded = Envelope.decode(json.dumps(valid_doc(args=[nested_list(codec.MAX_DEPTH)])))

    assert Envelope.decode(decoded.encode()) == decoded


@pytest.mark.parametrize("depth", [900, 1_100, 100_000])
def test_body_nested_past_the_parsers_limit_is_refused(depth: int) -> None:
    body = json.dumps(valid_doc(args=["NEST"])).replace('"NEST"', "[" * depth + "]" * depth)

    assert "nested too deeply" in refused(body).reason


@pytest.mark.parametrize(
    "literal", ["1e999", "-1e999", "1" * 400 + ".0", "NaN", "Infinity", "-Infinity"], ids=lambda t: t[:10]
)
def test_argument_json_reads_as_a_non_finite_float_is_refused(literal: str) -> None:
    body = json.dumps(valid_doc(args=["NUMBER"])).replace('"NUMBER"', literal)

    refused(body)


def test_argument_int_past_pythons_digit_limit_is_refused() -> None:
    body = json.dumps(valid_doc(args=["NUMBER"])).replace('"NUMBER"', "9" * 4_301)

    assert "4300 digits" in refused(body).reason


def test_argument_int_within_pythons_digit_limit_round_trips() -> None:
    decoded = Envelope.decode(json.dumps(valid_doc(args=[10**4_299])))

    assert Envelope.decode(decoded.encode()) == decoded


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(json.dumps(valid_doc()).encode("utf-16"), id="utf-16"),
        pytest.param(json.dumps(valid_doc()).encode("utf-32"), id="utf-32"),
        pytest.param(b'{"v": 1, "id": "task-1", "task": "t", "args": ["\xed\xa0\x80"]}', id="encoded-surrogate"),
        pytest.param(b'{"v": 1, "id": "task-1", "task": "t", "args": ["\xc3"]}', id="truncated-sequence"),
        pytest.param(bytearray(b"\xff"), id="bytearray"),
    ],
)
def test_bytes_that_are_not_utf8_are_refused(body: bytes) -> None:
    assert "utf-8" in refused(body).reason


@pytest.mark.parametrize("body", [None, 42, ["{}"], memoryview(b"{}")], ids=repr)
def test_body_that_is_not_text_is_refused(body: Any) -> None:
    assert "not text" in refused(body).reason


def test_lone_surrogate_escape_in_an_argument_decodes_and_re_encodes() -> None:
    # Given a string argument holding a lone surrogate, written as a JSON escape (UTF-8 cannot carry it raw)
    body = json.dumps(valid_doc(args=["\ud800x"]))
    assert "\\ud800" in body

    # When
    decoded = Envelope.decode(body)

    # Then
    assert decoded.args == ("\ud800x",)
    assert Envelope.decode(decoded.encode()) == decoded


@pytest.mark.parametrize("key", ["", "a b", "1x", "class", "é", "\ud800", "x" * 10_000, "__squall__x"], ids=repr)
def test_keyword_arguments_named_by_any_string_decode_for_the_binding_to_judge(key: str) -> None:
    assert key in Envelope.decode(json.dumps(valid_doc(kwargs={key: 1}))).kwargs


def test_huge_string_argument_decodes() -> None:
    assert Envelope.decode(json.dumps(valid_doc(args=["x" * 2_000_000]))).args == ("x" * 2_000_000,)


# --- properties ----------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=6), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=100)
@given(st.text() | st.binary())
def test_arbitrary_text_is_refused_with_decode_error(body: str | bytes) -> None:
    refused(body)


@settings(max_examples=100)
@given(json_values.filter(lambda v: not isinstance(v, dict) or v.get("v") not in VERSIONS))
def test_arbitrary_json_is_refused_with_decode_error(value: Any) -> None:
    refused(json.dumps(value))


required = ("v", "id", "task")


@settings(max_examples=100)
@given(
    st.dictionaries(
        st.sampled_from(["v", "id", "task", "args", "kwargs", "queue", "created", "eta", "redrives"]),
        json_values,
        max_size=6,
    ),
    st.sampled_from(required),
)
def test_envelope_with_a_field_replaced_by_any_json_either_decodes_valid_or_is_refused(
    changes: dict[str, Any], dropped: str
) -> None:
    # Given an envelope with some fields replaced by arbitrary JSON and one required field dropped
    doc = valid_doc(**changes)
    del doc[dropped]

    # Then it is refused with a DecodeError, and its task id is kept exactly when the id is usable
    error = refused(json.dumps(doc))
    assert error.task_id is None or (valid_task_id(error.task_id) and error.task_id == doc.get("id"))


@settings(max_examples=100)
@given(
    st.dictionaries(
        st.sampled_from(["args", "kwargs", "queue", "created", "eta", "redrives", "extra"]), json_values, max_size=4
    )
)
def test_otherwise_valid_envelope_with_any_optional_fields_decodes_or_is_refused_keeping_the_id(
    changes: dict[str, Any],
) -> None:
    body = json.dumps(valid_doc(**changes))

    try:
        decoded = Envelope.decode(body)
    except DecodeError as error:
        refusal: DecodeError | None = error
    else:
        refusal = None
        assert decoded.id == "task-1"
        assert isinstance(decoded.args, tuple)
        assert isinstance(decoded.kwargs, dict)
        assert isinstance(decoded.queue, str)
        assert isinstance(decoded.created, float)
    if refusal is not None:
        assert refusal.reason
        assert refusal.task_id == "task-1"


def test_envelope_wrong_in_many_fields_at_once_is_refused_with_a_bounded_reason_naming_the_first() -> None:
    # Given an envelope whose every optional field holds a large wrong value
    big = {f"key-{n}": ["x" * 50] * 5 for n in range(40)}
    doc = valid_doc(**{name: big for name in ("args", "kwargs", "queue", "created", "eta", "redrives")})
    del doc["task"]

    # Then the refusal names the first problems whole, counts the rest, and stays under the limit
    error = refused(json.dumps(doc))
    assert error.reason.startswith("field ")
    assert "more problem" in error.reason
