"""The envelope: it round-trips, and a malformed body of any shape becomes exactly one DecodeError."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.envelope import Envelope, check_task_id, valid_task_id
from squall.errors import DecodeError, EncodeError
from squall.limits import ENVELOPE_VERSION, MAX_TASK_ID_CHARS

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
        pytest.param("1e999", "not an envelope", id="huge-number"),
        pytest.param("[" * 50_000 + "]" * 50_000, "not valid JSON", id="deep-nesting"),
        pytest.param('{"v": NaN}', "not valid JSON", id="nan"),
    ],
)
def test_body_that_is_not_an_envelope_object_is_refused(body: str | bytes, reason: str) -> None:
    error = refused(body)

    assert reason in error.reason
    assert error.task_id is None


@pytest.mark.parametrize("version", [None, 0, 2, "1", True, 1.5, [1], {"major": 1}], ids=lambda v: f"v={v!r}")
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
    ],
)
def test_invalid_field_is_refused_naming_it_and_keeping_the_task_id(changes: dict[str, Any], field: str) -> None:
    doc = valid_doc(**changes)
    if changes.get(field, "") is None and field == "task":
        del doc["task"]

    error = refused(json.dumps(doc))

    assert f"'{field}'" in error.reason
    assert error.task_id == "task-1"


def test_infinite_timestamps_are_refused() -> None:
    body = json.dumps(valid_doc()).replace('"created": 1763900000.5', '"created": 1e999')

    assert "created" in refused(body).reason


def test_null_timestamps_read_as_unset() -> None:
    decoded = Envelope.decode(json.dumps(valid_doc(created=None, eta=None)))

    assert decoded.created == 0.0
    assert decoded.eta is None


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
@given(json_values.filter(lambda v: not isinstance(v, dict) or v.get("v") != ENVELOPE_VERSION))
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
